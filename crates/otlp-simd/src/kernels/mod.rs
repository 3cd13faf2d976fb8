//! The SIMD kernels, each with its scalar twin in a `scalar` submodule and
//! an `*_with(Isa, ..)` form that runs a chosen path.

mod detect;

pub mod agg;
pub mod hex;
pub mod keyset;
pub mod scan;
pub mod threshold;
pub mod utf8;

pub use detect::Isa;

/// Test input that ends right before an inaccessible page, so that a
/// kernel reading past the end of its input faults instead of reading
/// bytes it then ignores.
#[cfg(all(test, target_os = "linux"))]
pub(crate) mod guard {
    use rustix::mm::{mmap_anonymous, mprotect, munmap, MapFlags, MprotectFlags, ProtFlags};

    /// Two pages: the first readable and writable, the second not.
    pub(crate) struct Guarded {
        base: *mut core::ffi::c_void,
        page: usize,
    }

    impl Guarded {
        pub(crate) fn new() -> Guarded {
            let page = rustix::param::page_size();
            // SAFETY: a new private anonymous mapping of two pages, which
            // no other code knows of.
            let base = unsafe {
                mmap_anonymous(
                    core::ptr::null_mut(),
                    2 * page,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::PRIVATE,
                )
            }
            .expect("mmap");
            // SAFETY: the second page of that mapping.
            unsafe {
                mprotect(
                    base.cast::<u8>().add(page).cast(),
                    page,
                    MprotectFlags::empty(),
                )
            }
            .expect("mprotect");
            Guarded { base, page }
        }

        /// The accessible page; the inaccessible one follows its last byte.
        pub(crate) fn page(&mut self) -> &mut [u8] {
            // SAFETY: the first page is mapped readable and writable until
            // `drop`, and the borrow of `self` keeps this the only slice.
            unsafe { core::slice::from_raw_parts_mut(self.base.cast::<u8>(), self.page) }
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: no slice of the mapping outlives the borrow `page` gave.
            unsafe { munmap(self.base, 2 * self.page) }.expect("munmap");
        }
    }
}
