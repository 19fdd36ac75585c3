//! bpf(2): the XSKMAP, the redirect program, and its link to the interface.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{check, size_u32};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// Attach type of XDP programs (enum bpf_attach_type).
const BPF_XDP: u32 = 37;

/// One eBPF instruction, as the kernel reads it (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BpfInsn {
    pub(crate) code: u8,
    /// dst register in the low nibble, src in the high one.
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// bpf(2) with command `cmd` on attribute struct `attr`; a non-negative
/// result that is a descriptor is the caller's to wrap.
///
/// # Safety
/// `A` is the attribute layout of `cmd`, and every pointer stored in it
/// points at memory valid for what the kernel does with it under `cmd`,
/// for the duration of the call.
unsafe fn bpf<A>(cmd: libc::c_int, attr: &mut A) -> io::Result<libc::c_int> {
    // SAFETY: the caller vouches for the attribute's layout and pointers;
    // the size passed is the struct's, so the kernel reads no further.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut A).cast::<libc::c_void>(),
            size_u32::<A>(),
        )
    };
    // bpf(2) returns an int widened to a long: anything else is not an fd.
    check(libc::c_int::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?)
}

fn name16(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    n
}

/// An XSKMAP with `entries` slots (one per receive queue), named `name`.
pub(crate) fn bpf_xskmap(name: &str, entries: u32) -> io::Result<OwnedFd> {
    let mut a = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_flags: 0,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: name16(name),
    };
    // SAFETY: MapCreateAttr is the head of BPF_MAP_CREATE's attribute and
    // holds no pointers.
    let fd = unsafe { bpf(BPF_MAP_CREATE, &mut a) }?;
    // SAFETY: BPF_MAP_CREATE returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set `map[key] = value` for a map of u32 keys and values.
pub(crate) fn bpf_map_update_u32(map: &OwnedFd, key: u32, value: u32) -> io::Result<()> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: (&key as *const u32) as u64,
        value: (&value as *const u32) as u64,
        flags: 0,
    };
    // SAFETY: key and value point at live u32s (the map's sizes) that the
    // kernel only reads during the call.
    unsafe { bpf(BPF_MAP_UPDATE_ELEM, &mut a) }.map(drop)
}

/// Load an XDP program. On refusal the verifier's log is in the error.
pub(crate) fn bpf_load_xdp(name: &str, insns: &[BpfInsn]) -> io::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 64 * 1024];
    let insn_cnt =
        u32::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let load = |log_level: u32, log: &mut Vec<u8>| {
        let mut a = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            // Understating the buffer is safe; u32::MAX only if it is larger.
            log_size: if log_level > 0 {
                u32::try_from(log.len()).unwrap_or(u32::MAX)
            } else {
                0
            },
            log_buf: if log_level > 0 {
                log.as_mut_ptr() as u64
            } else {
                0
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name16(name),
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
        };
        // SAFETY: `insns` points at `insn_cnt` instructions and `license` at a
        // NUL-terminated string, both read-only during the call; `log_buf`
        // (when set) points at `log_size` writable bytes.
        unsafe { bpf(BPF_PROG_LOAD, &mut a) }
    };
    let fd = match load(0, &mut log) {
        Ok(fd) => fd,
        Err(first) => match load(1, &mut log) {
            Ok(fd) => fd,
            Err(_) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                return Err(io::Error::new(
                    first.kind(),
                    format!("{first}; verifier: {}", text.trim()),
                ));
            }
        },
    };
    // SAFETY: BPF_PROG_LOAD returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach XDP program `prog` to interface `ifindex` through a BPF link,
/// with XDP_FLAGS_* `flags`. The program stays attached exactly as long as
/// the returned descriptor is open (also across a crash: the kernel closes
/// it), which is how a port removes its program.
pub(crate) fn bpf_link_xdp(prog: &OwnedFd, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut a = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    // SAFETY: LinkCreateAttr is the head of BPF_LINK_CREATE's attribute and
    // holds no pointers.
    let fd = unsafe { bpf(BPF_LINK_CREATE, &mut a) }?;
    // SAFETY: BPF_LINK_CREATE returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
