//! Capture files: the "NIC" of `orbital replay` and the input of
//! `orbital inspect`.
//!
//! [`Capture`] reads classic pcap (either byte order, microsecond or
//! nanosecond timestamps, and the old "modified" variant) and pcapng (any
//! number of sections and interfaces, each with its own link type, byte order
//! and timestamp resolution). Frames borrow the file's bytes; nothing is copied
//! per frame. [`PcapWriter`] writes classic pcap, byte for byte the same for
//! the same input, which is what lets replay outputs be compared exactly.
//!
//! Why not the `pcap-parser` crate: in 0.17 its slice iterator reads legacy
//! records as little-endian whatever the file's byte order, and its pcapng
//! enhanced-packet parser allocates a vector of options per packet. The
//! formats are small; this reader is ~300 lines, bounds-checked, and tested
//! against the 1,282 captures in `../shared/data/pcap`.
#![forbid(unsafe_code)]

mod pcap;
mod pcapng;
mod writer;

use std::path::Path;

pub use writer::{PcapWriter, Resolution};

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read. The I/O error is part of the message and
    /// deliberately not also the `source()`: a printer of the whole chain
    /// (`{:#}`) would say the reason twice.
    #[error("cannot read capture: {0}")]
    Io(std::io::Error),
    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    NotACapture(u32),
    /// The file ends inside a header or record.
    #[error("capture truncated at byte {offset}: {what}")]
    Truncated {
        /// Byte offset of the record that is cut short.
        offset: usize,
        /// Which header or record.
        what: &'static str,
    },
    /// A structurally invalid block or record.
    #[error("malformed capture at byte {offset}: {what}")]
    Malformed {
        /// Byte offset of the bad block.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

impl From<std::io::Error> for CaptureError {
    fn from(e: std::io::Error) -> CaptureError {
        CaptureError::Io(e)
    }
}

/// File format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap.
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured frame, borrowing the capture's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// pcap LINKTYPE_ of the interface it was captured on.
    pub linktype: u32,
    /// Interface index (always 0 for classic pcap).
    pub interface: u32,
    /// Length of the frame on the wire (may exceed `data.len()` if the capture
    /// was truncated by a snap length).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Where `data` starts in the file (see [`Capture::bytes`]), so a caller
    /// can index frames once and come back to them without re-reading.
    pub offset: usize,
}

/// A capture file held in memory.
#[derive(Debug, Clone)]
pub struct Capture {
    bytes: Vec<u8>,
    format: Format,
}

impl Capture {
    /// Read a capture file.
    ///
    /// # Errors
    /// I/O errors and [`CaptureError::NotACapture`]; record-level problems
    /// surface while iterating [`Capture::frames`].
    pub fn open(path: impl AsRef<Path>) -> Result<Capture, CaptureError> {
        Capture::from_bytes(std::fs::read(path)?)
    }

    /// Use bytes already in memory.
    ///
    /// # Errors
    /// [`CaptureError::NotACapture`] or [`CaptureError::Truncated`] if the file
    /// header is unreadable.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Capture, CaptureError> {
        let magic = bytes
            .get(..4)
            .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
            .ok_or(CaptureError::Truncated {
                offset: 0,
                what: "file header",
            })?;
        let format = if magic == pcapng::SHB_TYPE {
            Format::PcapNg
        } else if pcap::Header::recognise(magic).is_some() {
            Format::Pcap
        } else {
            return Err(CaptureError::NotACapture(magic));
        };
        let c = Capture { bytes, format };
        // Validate the file header now so `frames` only reports record errors.
        c.frames().validate_header()?;
        Ok(c)
    }

    /// The file format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The link type of a classic pcap file, or of the first pcapng interface
    /// (`None` for a pcapng file without one).
    pub fn linktype(&self) -> Option<u32> {
        match self.format {
            Format::Pcap => pcap::Header::parse(&self.bytes).ok().map(|h| h.linktype),
            Format::PcapNg => pcapng::first_linktype(&self.bytes),
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Iterate over the frames. After an error the iterator ends.
    pub fn frames(&self) -> Frames<'_> {
        Frames {
            base: self.bytes.as_ptr() as usize,
            inner: match self.format {
                Format::Pcap => FramesInner::Pcap(pcap::Records::new(&self.bytes)),
                Format::PcapNg => FramesInner::PcapNg(pcapng::Blocks::new(&self.bytes)),
            },
        }
    }
}

/// Iterator over the frames of a [`Capture`].
#[derive(Debug)]
pub struct Frames<'a> {
    base: usize,
    inner: FramesInner<'a>,
}

#[derive(Debug)]
enum FramesInner<'a> {
    Pcap(pcap::Records<'a>),
    PcapNg(pcapng::Blocks<'a>),
}

impl Frames<'_> {
    fn validate_header(&self) -> Result<(), CaptureError> {
        match &self.inner {
            FramesInner::Pcap(r) => r.header().map(|_| ()),
            FramesInner::PcapNg(_) => Ok(()),
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = match &mut self.inner {
            FramesInner::Pcap(r) => r.next(),
            FramesInner::PcapNg(b) => b.next(),
        };
        // Frames borrow the file's bytes, so the address difference is the
        // offset (pointer-to-integer casts are plain arithmetic, no access).
        r.map(|f| {
            f.map(|mut f| {
                f.offset = f.data.as_ptr() as usize - self.base;
                f
            })
        })
    }
}

/// Read `N` bytes at `at` in the given byte order.
fn u32_at(d: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn u16_at(d: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = d.get(at..at + 2)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}
