// SPDX-License-Identifier: GPL-2.0

//! The module the code is linked into.
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h)

use super::bindings;

extern "C" {
    /// The module this code is linked into (`THIS_MODULE`).
    static mut __this_module: bindings::module;
}

/// `THIS_MODULE`, for C structures built at compile time.
pub const THIS_MODULE: *mut bindings::module = &raw mut __this_module;

/// `THIS_MODULE`: the owner to give the C structures this module registers.
pub(crate) fn this_module() -> *mut bindings::module {
    // Taking the address of the module's own `struct module` (defined for
    // every module by modpost) reads nothing.
    core::ptr::addr_of_mut!(__this_module)
}

/// A reference to this module (`try_module_get(THIS_MODULE)`): while one
/// is held, the module cannot be unloaded.  Given back on drop.
pub struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference; `None` when the module is being unloaded.
    pub fn get() -> Option<Self> {
        // SAFETY: `this_module()` is this module's own `struct module`.
        unsafe { bindings::rsdma_helper_try_module_get(this_module()) }.then_some(ModuleRef(()))
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: the reference `get` took.
        unsafe { bindings::module_put(this_module()) };
    }
}
