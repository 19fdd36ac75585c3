//! Classic libpcap files (<https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap>).

use crate::{CaptureError, Frame, u32_at};

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's patched libpcap: 8 more bytes per record header.
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const FILE_HEADER_LEN: usize = 24;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    big_endian: bool,
    nanos: bool,
    record_header_len: usize,
    pub(crate) linktype: u32,
}

impl Header {
    /// Which byte order / resolution a little-endian read of the magic means.
    pub(crate) fn recognise(magic_le: u32) -> Option<(bool, bool, usize)> {
        for (m, nanos, rec) in [
            (MAGIC_US, false, 16),
            (MAGIC_NS, true, 16),
            (MAGIC_MODIFIED, false, 24),
        ] {
            if magic_le == m {
                return Some((false, nanos, rec));
            }
            if magic_le == m.swap_bytes() {
                return Some((true, nanos, rec));
            }
        }
        None
    }

    pub(crate) fn parse(d: &[u8]) -> Result<Header, CaptureError> {
        let truncated = CaptureError::Truncated {
            offset: 0,
            what: "pcap file header",
        };
        let magic = u32_at(d, 0, false).ok_or(CaptureError::Truncated {
            offset: 0,
            what: "pcap file header",
        })?;
        let (big_endian, nanos, record_header_len) =
            Header::recognise(magic).ok_or(CaptureError::NotACapture(magic))?;
        if d.len() < FILE_HEADER_LEN {
            return Err(truncated);
        }
        // The link-layer header type is the low 16 bits; the upper bits of the
        // field carry FCS information (LINKTYPE_ registry, "FCS length").
        let linktype = u32_at(d, 20, big_endian).ok_or(truncated)? & 0xffff;
        Ok(Header {
            big_endian,
            nanos,
            record_header_len,
            linktype,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    header: Option<Header>,
    failed: bool,
}

impl<'a> Records<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Records<'a> {
        Records {
            data,
            pos: FILE_HEADER_LEN,
            header: Header::parse(data).ok(),
            failed: false,
        }
    }

    pub(crate) fn header(&self) -> Result<Header, CaptureError> {
        Header::parse(self.data)
    }

    fn record(&mut self, h: Header) -> Result<Frame<'a>, CaptureError> {
        let at = self.pos;
        let be = h.big_endian;
        let rec = self
            .data
            .get(at..at + h.record_header_len)
            .ok_or(CaptureError::Truncated {
                offset: at,
                what: "record header",
            })?;
        let field = |i| u32_at(rec, i, be).unwrap_or(0);
        let (sec, frac, incl, orig) = (field(0), field(4), field(8), field(12));
        let start = at + h.record_header_len;
        let data = start
            .checked_add(incl as usize)
            .and_then(|end| self.data.get(start..end))
            .ok_or(CaptureError::Truncated {
                offset: at,
                what: "record data",
            })?;
        self.pos = start + data.len();
        let frac_ns = if h.nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        Ok(Frame {
            ts_ns: u64::from(sec) * 1_000_000_000 + frac_ns,
            linktype: h.linktype,
            interface: 0,
            orig_len: orig,
            data,
            offset: 0,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        let h = self.header?;
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.record(h);
        self.failed = r.is_err();
        Some(r)
    }
}
