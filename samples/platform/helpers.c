// SPDX-License-Identifier: GPL-2.0
/* The abstraction layer's C helpers, linked into the platform sample. */
#include "../../rust/kapi/helpers.c"
#include "../../rust/kapi/driver_helpers.c"
