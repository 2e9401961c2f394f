/* SPDX-License-Identifier: GPL-2.0 */
/* rsdma.ko's module parameters (rust/params.c), as the Rust side reads them. */
#ifndef RSDMA_PARAMS_H
#define RSDMA_PARAMS_H

unsigned int rsdma_param_bounce_kib(void);
unsigned int rsdma_param_bounce_max_pools(void);
unsigned int rsdma_param_dmabuf_max_kib(void);
unsigned int rsdma_param_coherent_max_mib(void);
/* The claim= string as given at load, or NULL. */
const char *rsdma_param_claim(void);

#endif
