// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers only the drivers built on rsdma's abstraction layer (the
 * samples) link: device-tree lookups and platform-driver data.  rsdma.ko
 * itself does not link this file.
 */

#include <linux/of.h>
#include <linux/platform_device.h>

#include "helpers.h"

struct device_node *rsdma_helper_of_find_node_by_path(const char *path)
{
	return of_find_node_by_path(path);
}

struct device_node *rsdma_helper_of_parse_phandle(const struct device_node *np,
						  const char *name, int index)
{
	return of_parse_phandle(np, name, index);
}

void rsdma_helper_of_node_put(struct device_node *np)
{
	of_node_put(np);
}

void *rsdma_helper_platform_get_drvdata(struct platform_device *pdev)
{
	return platform_get_drvdata(pdev);
}

void rsdma_helper_platform_set_drvdata(struct platform_device *pdev, void *data)
{
	platform_set_drvdata(pdev, data);
}
