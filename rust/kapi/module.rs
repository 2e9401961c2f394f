// SPDX-License-Identifier: GPL-2.0

//! The module the code is linked into.
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h)

use super::bindings;

extern "C" {
    /// The module this code is linked into (`THIS_MODULE`).
    static mut __this_module: bindings::module;
}

/// `THIS_MODULE`: the owner to give the C structures this module registers.
pub(crate) fn this_module() -> *mut bindings::module {
    // Taking the address of the module's own `struct module` (defined for
    // every module by modpost) reads nothing.
    core::ptr::addr_of_mut!(__this_module)
}
