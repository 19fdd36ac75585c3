//! pcapng (<https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng>).
//!
//! Each section sets its own byte order and restarts interface numbering;
//! each interface has its own link type and timestamp resolution, so frames
//! carry their link type rather than the capture having one.

use crate::{CaptureError, Frame, u16_at, u32_at};

pub(crate) const SHB_TYPE: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2; // obsolete Packet Block
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
/// Interfaces per section we keep; more is almost certainly a corrupt file.
const MAX_INTERFACES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp unit: 10^-n (decimal) or 2^-n (binary) seconds.
    resol: Resol,
    offset_s: i64,
}

#[derive(Debug, Clone, Copy)]
enum Resol {
    Decimal(u32),
    Binary(u32),
}

impl Resol {
    fn to_ns(self, ticks: u64) -> u64 {
        match self {
            Resol::Decimal(n) if n <= 9 => ticks.saturating_mul(10u64.pow(9 - n)),
            Resol::Decimal(n) => ticks / 10u64.saturating_pow(n - 9),
            Resol::Binary(n) => {
                let ns = (u128::from(ticks) * 1_000_000_000) >> n.min(127);
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }
}

pub(crate) fn first_linktype(data: &[u8]) -> Option<u32> {
    let mut b = Blocks::new(data);
    while let Some(Ok(())) = b.step() {
        if let Some(i) = b.interfaces.first() {
            return Some(i.linktype);
        }
    }
    b.interfaces.first().map(|i| i.linktype)
}

#[derive(Debug)]
pub(crate) struct Blocks<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
    interfaces: Vec<Interface>,
    pending: Option<Frame<'a>>,
    failed: bool,
}

impl<'a> Blocks<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Blocks<'a> {
        Blocks {
            data,
            pos: 0,
            big_endian: false,
            interfaces: Vec::new(),
            pending: None,
            failed: false,
        }
    }

    fn malformed(&self, what: &'static str) -> CaptureError {
        CaptureError::Malformed {
            offset: self.pos,
            what,
        }
    }

    /// Consume one block; a packet block leaves its frame in `pending`.
    /// `None` at the end of the data.
    fn step(&mut self) -> Option<Result<(), CaptureError>> {
        let d = self.data;
        if self.pos >= d.len() {
            return None;
        }
        let at = self.pos;
        let truncated = CaptureError::Truncated {
            offset: at,
            what: "block header",
        };
        let Some(raw_type) = u32_at(d, at, false) else {
            return Some(Err(truncated));
        };
        if raw_type == SHB_TYPE {
            // The section header fixes the byte order for itself and what follows.
            let Some(bom) = u32_at(d, at + 8, false) else {
                return Some(Err(truncated));
            };
            self.big_endian = match bom {
                BYTE_ORDER_MAGIC => false,
                m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
                _ => return Some(Err(self.malformed("bad section byte-order magic"))),
            };
            self.interfaces.clear();
        }
        let be = self.big_endian;
        let btype = u32_at(d, at, be).unwrap_or(0);
        let Some(len) = u32_at(d, at + 4, be).map(|l| l as usize) else {
            return Some(Err(truncated));
        };
        if len < 12 || len % 4 != 0 {
            return Some(Err(
                self.malformed("block length not a multiple of 4 or below 12")
            ));
        }
        let Some(block) = at.checked_add(len).and_then(|end| d.get(at..end)) else {
            return Some(Err(CaptureError::Truncated {
                offset: at,
                what: "block body",
            }));
        };
        if u32_at(block, len - 4, be) != Some(len as u32) {
            return Some(Err(self.malformed("trailing block length differs")));
        }
        let body = &block[8..len - 4];
        let r = match btype {
            IDB_TYPE => self.interface(body),
            EPB_TYPE => self.enhanced_packet(body),
            SPB_TYPE => self.simple_packet(body),
            PB_TYPE => self.obsolete_packet(body),
            _ => Ok(()),
        };
        self.pos = at + len;
        Some(r)
    }

    fn interface(&mut self, body: &[u8]) -> Result<(), CaptureError> {
        let be = self.big_endian;
        let (Some(lt), Some(snaplen)) = (u16_at(body, 0, be), u32_at(body, 4, be)) else {
            return Err(self.malformed("interface description too short"));
        };
        let mut iface = Interface {
            linktype: u32::from(lt),
            snaplen,
            resol: Resol::Decimal(6),
            offset_s: 0,
        };
        let mut opts = body.get(8..).unwrap_or(&[]);
        while let (Some(code), Some(olen)) = (u16_at(opts, 0, be), u16_at(opts, 2, be)) {
            if code == OPT_END {
                break;
            }
            let olen = usize::from(olen);
            let Some(val) = opts.get(4..4 + olen) else {
                return Err(self.malformed("interface option runs past its block"));
            };
            match (code, val) {
                (OPT_IF_TSRESOL, &[r]) => {
                    let n = u32::from(r & 0x7f);
                    iface.resol = if r & 0x80 == 0 {
                        Resol::Decimal(n)
                    } else {
                        Resol::Binary(n)
                    };
                }
                (OPT_IF_TSOFFSET, v) if v.len() == 8 => {
                    let b: [u8; 8] = v.try_into().unwrap_or([0; 8]);
                    iface.offset_s = if be {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                _ => {}
            }
            let padded = 4 + olen.div_ceil(4) * 4;
            opts = opts.get(padded..).unwrap_or(&[]);
        }
        if self.interfaces.len() < MAX_INTERFACES {
            self.interfaces.push(iface);
        }
        Ok(())
    }

    fn frame(
        &mut self,
        if_id: u32,
        ticks: u64,
        caplen: usize,
        orig_len: u32,
        data: &'a [u8],
    ) -> Result<(), CaptureError> {
        let Some(iface) = self.interfaces.get(if_id as usize).copied() else {
            return Err(self.malformed("packet names an interface never described"));
        };
        let data = data
            .get(..caplen)
            .ok_or_else(|| self.malformed("captured length past the block"))?;
        let base = iface.resol.to_ns(ticks);
        let ts_ns = base.saturating_add_signed(iface.offset_s.saturating_mul(1_000_000_000));
        self.pending = Some(Frame {
            ts_ns,
            linktype: iface.linktype,
            interface: if_id,
            orig_len,
            data,
            offset: 0,
        });
        Ok(())
    }

    fn enhanced_packet(&mut self, body: &'a [u8]) -> Result<(), CaptureError> {
        let be = self.big_endian;
        let f = |i| u32_at(body, i, be);
        let (Some(if_id), Some(hi), Some(lo), Some(cap), Some(orig)) =
            (f(0), f(4), f(8), f(12), f(16))
        else {
            return Err(self.malformed("enhanced packet block too short"));
        };
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        self.frame(if_id, ticks, cap as usize, orig, &body[20..])
    }

    fn obsolete_packet(&mut self, body: &'a [u8]) -> Result<(), CaptureError> {
        let be = self.big_endian;
        let f = |i| u32_at(body, i, be);
        let (Some(if_id), Some(hi), Some(lo), Some(cap), Some(orig)) =
            (u16_at(body, 0, be), f(4), f(8), f(12), f(16))
        else {
            return Err(self.malformed("packet block too short"));
        };
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        self.frame(u32::from(if_id), ticks, cap as usize, orig, &body[20..])
    }

    fn simple_packet(&mut self, body: &'a [u8]) -> Result<(), CaptureError> {
        let Some(orig) = u32_at(body, 0, self.big_endian) else {
            return Err(self.malformed("simple packet block too short"));
        };
        let Some(iface) = self.interfaces.first().copied() else {
            return Err(self.malformed("simple packet before any interface"));
        };
        let room = body.len() - 4;
        let mut cap = (orig as usize).min(room);
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        // Simple packet blocks carry no timestamp.
        self.frame(0, 0, cap, orig, &body[4..])
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.step()? {
                Ok(()) => {
                    if let Some(f) = self.pending.take() {
                        return Some(Ok(f));
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
