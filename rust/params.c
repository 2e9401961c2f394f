// SPDX-License-Identifier: GPL-2.0
/*
 * rsdma.ko's module parameters.  The 6.12 module! macro cannot declare
 * parameters, so they live here; rust/params.rs reads them.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "params.h"

static unsigned int bounce_kib = 1024;
module_param(bounce_kib, uint, 0444);
MODULE_PARM_DESC(bounce_kib,
		 "KiB of bounce buffer a device gets when it is attached, in one pool per CPU of at least 256 KiB (64 to 4096)");

static unsigned int bounce_max_pools = 8;
module_param(bounce_max_pools, uint, 0444);
MODULE_PARM_DESC(bounce_max_pools,
		 "bounce pools a device may grow to under pressure (1 to 64)");

static unsigned int dmabuf_max_kib = 65536;
module_param(dmabuf_max_kib, uint, 0644);
MODULE_PARM_DESC(dmabuf_max_kib,
		 "KiB a buffer from /dev/rsdma may hold at most (default 64 MiB)");

static unsigned int coherent_max_mib = 256;
module_param(coherent_max_mib, uint, 0644);
MODULE_PARM_DESC(coherent_max_mib,
		 "MiB one coherent or page allocation may take (1 to 65536)");


static char *claim;
module_param(claim, charp, 0444);
MODULE_PARM_DESC(claim,
		 "devices to take over when their driver binds: specs pci:DOMAIN:BUS:SLOT.FN, pci:VENDOR:DEVICE, platform:NAME or of:COMPATIBLE, each with /options, separated by commas (see Documentation/rsdma.rst)");

unsigned int rsdma_param_bounce_kib(void)
{
	return READ_ONCE(bounce_kib);
}

unsigned int rsdma_param_bounce_max_pools(void)
{
	return READ_ONCE(bounce_max_pools);
}

unsigned int rsdma_param_dmabuf_max_kib(void)
{
	return READ_ONCE(dmabuf_max_kib);
}

unsigned int rsdma_param_coherent_max_mib(void)
{
	return READ_ONCE(coherent_max_mib);
}

const char *rsdma_param_claim(void)
{
	return claim;
}
