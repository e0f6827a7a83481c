//! The pcsc-lite C API, loaded at run time: the crate's only unsafe code.
//!
//! Each function here is safe to call: it owns the pointers it hands to C and checks the
//! lengths C hands back. Return codes come back as `u32` (`SCARD_*`); `super` maps them to
//! errors.
//!
//! Types follow pcsc-lite's `wintypes.h` and `pcsclite.h` on Linux (not Apple): `DWORD` is
//! `unsigned long`, `LONG` is `long`, `SCARDCONTEXT` and `SCARDHANDLE` are `LONG`, and
//! `SCARD_READERSTATE` is not packed. On x86_64 all of them are 64 bits wide.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_long, c_ulong, c_void};
use std::ptr;
use std::sync::OnceLock;

use libloading::Library;

/// `DWORD`.
pub(super) type Dword = c_ulong;
/// `LONG`, also `SCARDCONTEXT` and `SCARDHANDLE`.
pub(super) type Long = c_long;

/// The shared object every pcsc-lite installation provides (Debian: libpcsclite1).
pub(super) const LIBRARY: &str = "libpcsclite.so.1";

pub(super) const SCARD_S_SUCCESS: u32 = 0x0000_0000;
pub(super) const SCARD_E_INSUFFICIENT_BUFFER: u32 = 0x8010_0008;
pub(super) const SCARD_SCOPE_SYSTEM: Dword = 0x0002;
const MAX_ATR_SIZE: usize = 33;
/// `MAX_BUFFER_SIZE_EXTENDED`: an extended APDU's response, 64 KiB of data plus framing.
pub(super) const MAX_BUFFER_SIZE_EXTENDED: usize = 4 + 3 + (1 << 16) + 3 + 2;

/// `SCARD_READERSTATE`.
#[repr(C)]
struct RawReaderState {
    reader: *const c_char,
    user_data: *mut c_void,
    current_state: Dword,
    event_state: Dword,
    atr_len: Dword,
    atr: [u8; MAX_ATR_SIZE],
}

/// `SCARD_IO_REQUEST`: the protocol control information header of a transmit.
#[repr(C)]
struct IoRequest {
    protocol: c_ulong,
    pci_length: c_ulong,
}

type EstablishContextFn =
    unsafe extern "C" fn(Dword, *const c_void, *const c_void, *mut Long) -> Long;
type ReleaseContextFn = unsafe extern "C" fn(Long) -> Long;
type ListReadersFn = unsafe extern "C" fn(Long, *const c_char, *mut c_char, *mut Dword) -> Long;
type GetStatusChangeFn = unsafe extern "C" fn(Long, Dword, *mut RawReaderState, Dword) -> Long;
type ConnectFn =
    unsafe extern "C" fn(Long, *const c_char, Dword, Dword, *mut Long, *mut Dword) -> Long;
type TransmitFn = unsafe extern "C" fn(
    Long,
    *const IoRequest,
    *const u8,
    Dword,
    *mut IoRequest,
    *mut u8,
    *mut Dword,
) -> Long;
type DisconnectFn = unsafe extern "C" fn(Long, Dword) -> Long;

/// One reader for [`Api::get_status_change`]: a name and the state the caller knows; the call
/// fills in the event state and the ATR.
#[derive(Debug)]
pub(super) struct ReaderState {
    pub(super) name: CString,
    pub(super) current: Dword,
    pub(super) event: Dword,
    pub(super) atr: Vec<u8>,
}

/// The loaded library and the functions the crate uses.
pub(super) struct Api {
    establish_context: EstablishContextFn,
    release_context: ReleaseContextFn,
    list_readers: ListReadersFn,
    get_status_change: GetStatusChangeFn,
    connect: ConnectFn,
    transmit: TransmitFn,
    disconnect: DisconnectFn,
    /// Keeps the function pointers above valid. Never unloaded: the `Api` lives in a static.
    _library: Library,
}

/// Loads pcsc-lite once per process; later calls return the same result.
pub(super) fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    // SAFETY: loading runs the library's initialisers. pcsc-lite's only set up its own
    // globals (a mutex, the debug level); it is the distribution's stock client library.
    let library = unsafe { Library::new(LIBRARY) }.map_err(|e| e.to_string())?;
    // SAFETY: each function type above restates the prototype in pcsc-lite's winscard.h with
    // the Linux types of wintypes.h, so calling through it is sound. The pointers are copied
    // out of their `Symbol`s but stay valid: `_library` is stored next to them and the `Api`
    // is never dropped (it lives in the `API` static).
    unsafe {
        Ok(Api {
            establish_context: *library
                .get::<EstablishContextFn>(b"SCardEstablishContext\0")
                .map_err(|e| e.to_string())?,
            release_context: *library
                .get::<ReleaseContextFn>(b"SCardReleaseContext\0")
                .map_err(|e| e.to_string())?,
            list_readers: *library
                .get::<ListReadersFn>(b"SCardListReaders\0")
                .map_err(|e| e.to_string())?,
            get_status_change: *library
                .get::<GetStatusChangeFn>(b"SCardGetStatusChange\0")
                .map_err(|e| e.to_string())?,
            connect: *library
                .get::<ConnectFn>(b"SCardConnect\0")
                .map_err(|e| e.to_string())?,
            transmit: *library
                .get::<TransmitFn>(b"SCardTransmit\0")
                .map_err(|e| e.to_string())?,
            disconnect: *library
                .get::<DisconnectFn>(b"SCardDisconnect\0")
                .map_err(|e| e.to_string())?,
            _library: library,
        })
    }
}

/// A `LONG` return value as the 32-bit code pcsclite.h defines (`(LONG)0x8010001D` is
/// positive where `long` has 64 bits, negative where it has 32).
// `Long` is `i64` here but `i32` on 32-bit targets, where the conversion is not useless.
#[allow(clippy::useless_conversion)]
fn code(rv: Long) -> u32 {
    u32::try_from(i64::from(rv) & 0xFFFF_FFFF).unwrap_or(u32::MAX)
}

fn check(rv: Long) -> Result<(), u32> {
    match code(rv) {
        SCARD_S_SUCCESS => Ok(()),
        other => Err(other),
    }
}

impl Api {
    /// `SCardEstablishContext`: a context handle.
    pub(super) fn establish_context(&self, scope: Dword) -> Result<Long, u32> {
        let mut context: Long = 0;
        // SAFETY: the reserved pointers may be null; `context` is a valid out-pointer for the
        // duration of the call.
        check(unsafe { (self.establish_context)(scope, ptr::null(), ptr::null(), &mut context) })?;
        Ok(context)
    }

    /// `SCardReleaseContext`.
    pub(super) fn release_context(&self, context: Long) -> Result<(), u32> {
        // SAFETY: takes a handle by value; pcsc-lite validates it.
        check(unsafe { (self.release_context)(context) })
    }

    /// `SCardListReaders` over all groups: the raw multi-string (names, each NUL-terminated,
    /// then one more NUL).
    pub(super) fn list_readers(&self, context: Long) -> Result<Vec<u8>, u32> {
        // The list may grow between the size query and the fetch: retry a few times.
        for _ in 0..3 {
            let mut len: Dword = 0;
            // SAFETY: a null group list means all readers; a null buffer asks for the length,
            // written to `len`, a valid out-pointer.
            check(unsafe { (self.list_readers)(context, ptr::null(), ptr::null_mut(), &mut len) })?;
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0).max(1)];
            let mut filled = Dword::try_from(buf.len()).unwrap_or(0);
            // SAFETY: `buf` is writable for `filled` bytes, the length passed in; pcsc-lite
            // writes at most that many and stores the length used in `filled`.
            let rv = unsafe {
                (self.list_readers)(
                    context,
                    ptr::null(),
                    buf.as_mut_ptr().cast::<c_char>(),
                    &mut filled,
                )
            };
            match check(rv) {
                Ok(()) => {
                    buf.truncate(usize::try_from(filled).unwrap_or(0));
                    return Ok(buf);
                }
                Err(SCARD_E_INSUFFICIENT_BUFFER) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(SCARD_E_INSUFFICIENT_BUFFER)
    }

    /// `SCardGetStatusChange`: waits up to `timeout_ms` for a reader's state to differ from
    /// its `current`, and fills in each `event` and `atr`.
    pub(super) fn get_status_change(
        &self,
        context: Long,
        timeout_ms: Dword,
        states: &mut [ReaderState],
    ) -> Result<(), u32> {
        let mut raw: Vec<RawReaderState> = states
            .iter()
            .map(|s| RawReaderState {
                reader: s.name.as_ptr(),
                user_data: ptr::null_mut(),
                current_state: s.current,
                event_state: 0,
                atr_len: 0,
                atr: [0; MAX_ATR_SIZE],
            })
            .collect();
        let count = Dword::try_from(raw.len()).map_err(|_| SCARD_E_INSUFFICIENT_BUFFER)?;
        // SAFETY: `raw` holds `count` initialised structs whose reader names point into
        // `states`' CStrings, which outlive the call; pcsc-lite writes only inside them.
        check(unsafe { (self.get_status_change)(context, timeout_ms, raw.as_mut_ptr(), count) })?;
        for (state, raw) in states.iter_mut().zip(&raw) {
            state.event = raw.event_state;
            let len = usize::try_from(raw.atr_len).unwrap_or(0).min(MAX_ATR_SIZE);
            state.atr = raw.atr[..len].to_vec();
        }
        Ok(())
    }

    /// `SCardConnect`: a card handle and the active protocol.
    pub(super) fn connect(
        &self,
        context: Long,
        reader: &CStr,
        share_mode: Dword,
        protocols: Dword,
    ) -> Result<(Long, Dword), u32> {
        let mut card: Long = 0;
        let mut active: Dword = 0;
        // SAFETY: `reader` is NUL-terminated and outlives the call; `card` and `active` are
        // valid out-pointers.
        check(unsafe {
            (self.connect)(
                context,
                reader.as_ptr(),
                share_mode,
                protocols,
                &mut card,
                &mut active,
            )
        })?;
        Ok((card, active))
    }

    /// `SCardTransmit` with the PCI header of `protocol`: sends `command`, writes the response
    /// into `response` and returns its length.
    pub(super) fn transmit(
        &self,
        card: Long,
        protocol: Dword,
        command: &[u8],
        response: &mut [u8],
    ) -> Result<usize, u32> {
        // What g_rgSCardT0Pci / g_rgSCardT1Pci hold: the protocol and the header's own size.
        let pci = IoRequest {
            protocol,
            pci_length: c_ulong::try_from(size_of::<IoRequest>()).unwrap_or(0),
        };
        // An over-long command becomes a length pcsc-lite rejects, never a truncated one.
        let command_len = Dword::try_from(command.len()).unwrap_or(Dword::MAX);
        let mut response_len = Dword::try_from(response.len()).unwrap_or(0);
        // SAFETY: `command` is readable for `command_len` bytes (or the length is rejected
        // before any read); `response` is writable for `response_len` bytes, the length passed
        // in, and pcsc-lite writes at most that many; a null receive PCI is allowed.
        check(unsafe {
            (self.transmit)(
                card,
                &pci,
                command.as_ptr(),
                command_len,
                ptr::null_mut(),
                response.as_mut_ptr(),
                &mut response_len,
            )
        })?;
        Ok(usize::try_from(response_len)
            .unwrap_or(0)
            .min(response.len()))
    }

    /// `SCardDisconnect`.
    pub(super) fn disconnect(&self, card: Long, disposition: Dword) -> Result<(), u32> {
        // SAFETY: takes a handle by value; pcsc-lite validates it.
        check(unsafe { (self.disconnect)(card, disposition) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_codes_read_the_same_from_either_width_of_long() {
        assert_eq!(code(0), SCARD_S_SUCCESS);
        // SCARD_E_NO_SERVICE as a 32-bit `long` holds it: negative.
        assert_eq!(code(-2_146_435_043), 0x8010_001D);
        // And as a 64-bit `long` holds it: positive.
        #[cfg(all(unix, target_pointer_width = "64"))]
        assert_eq!(code(0x8010_001D), 0x8010_001D);
    }

    #[test]
    fn structs_have_the_c_layout() {
        // On LP64 Linux: two pointers, three unsigned longs, 33 bytes, padded to 8.
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        {
            assert_eq!(size_of::<RawReaderState>(), 80);
            assert_eq!(size_of::<IoRequest>(), 16);
        }
        assert_eq!(size_of::<IoRequest>(), 2 * size_of::<c_ulong>());
    }
}
