//! Capture files as ports: the embedded default of `orbital replay`.
//!
//! [`PcapRx`] turns a capture's frames into packets (one copy, file → pool
//! buffer), stamping each with its capture time (the virtual clock) and its
//! sequence number in the file. [`PcapTx`] collects transmitted frames and
//! writes them in time order — each frame's timestamp is when the engine
//! sent it on virtual time (a forwarded frame or an answer: its cause's
//! arrival; a resolution retry, a give-up's ICMP error, a released held
//! packet: when that happened) — then, among frames of one instant, by the
//! sequence number of the input packet that caused them and their
//! sub-index (fragments, generated replies). None of these depends on how
//! many workers ran or how they interleaved, which is what makes replay
//! output byte-identical across runs and worker counts; and a capture in
//! time order is what readers expect (capinfos: "Strict time order").

use std::io;
use std::path::{Path, PathBuf};

use orbital_buf::{Packet, PoolCache};
use orbital_capture::{Capture, CaptureError, PcapWriter, Resolution};

/// Why a capture could not serve as a port. Each message is whole (file and
/// reason); the inner error is not also the `source()`, so printing the
/// chain does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum PcapPortError {
    /// The file could not be read or is not a capture.
    #[error("{path}: {reason}")]
    Capture {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: CaptureError,
    },
    /// The capture is not of Ethernet frames.
    #[error("{path}: link type {linktype} is not Ethernet; ports carry Ethernet frames")]
    NotEthernet {
        /// The file.
        path: PathBuf,
        /// Its link type.
        linktype: u32,
    },
    /// Writing an output failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: io::Error,
    },
}

/// Where one frame is in the file.
#[derive(Debug, Clone, Copy)]
struct FrameRef {
    ts_ns: u64,
    linktype: u32,
    offset: usize,
    len: usize,
}

/// Frames of a capture, as packets.
#[derive(Debug)]
pub struct PcapRx {
    capture: Capture,
    frames: Vec<FrameRef>,
    path: PathBuf,
    next: usize,
    /// Frames larger than a buffer, skipped and counted.
    pub oversize: u64,
    /// A damaged tail of the file, if reading stopped early.
    pub damage: Option<String>,
}

impl PcapRx {
    /// Open a capture of Ethernet frames.
    ///
    /// # Errors
    /// Unreadable file, not a capture, not Ethernet.
    pub fn open(path: &Path) -> Result<PcapRx, PcapPortError> {
        let capture = Capture::open(path).map_err(|reason| PcapPortError::Capture {
            path: path.to_path_buf(),
            reason,
        })?;
        if let Some(lt) = capture.linktype().filter(|&l| l != 1) {
            return Err(PcapPortError::NotEthernet {
                path: path.to_path_buf(),
                linktype: lt,
            });
        }
        let mut frames = Vec::new();
        let mut damage = None;
        for f in capture.frames() {
            match f {
                Ok(f) => frames.push(FrameRef {
                    ts_ns: f.ts_ns,
                    linktype: f.linktype,
                    offset: f.offset,
                    len: f.data.len(),
                }),
                Err(e) => damage = Some(e.to_string()),
            }
        }
        Ok(PcapRx {
            capture,
            frames,
            path: path.to_path_buf(),
            next: 0,
            oversize: 0,
            damage,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once every frame was read.
    pub fn is_done(&self) -> bool {
        self.next >= self.frames.len()
    }

    /// Frames in the file.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Read the next frame into a packet from `cache`, with metadata
    /// timestamp = capture time and seq = its index in the file. `None` at
    /// the end, or when the pool is exhausted (then it may be called again).
    pub fn next_packet(&mut self, cache: &mut PoolCache) -> Option<Packet> {
        while let Some(&f) = self.frames.get(self.next) {
            let mut p = cache.alloc()?;
            let seq = self.next as u64;
            self.next += 1;
            let data = &self.capture.bytes()[f.offset..f.offset + f.len];
            if f.linktype != 1 || !p.extend_from_slice(data) {
                self.oversize += 1;
                cache.free(p);
                continue;
            }
            p.meta.timestamp_ns = f.ts_ns;
            p.meta.seq = seq;
            return Some(p);
        }
        None
    }
}

/// Frames sent on a port, written out in replay order. Not a [`crate::Port`]:
/// the replay driver hands it packets one at a time ([`PcapTx::record`]) and
/// a file always has room, so nothing is ever left over or dropped.
#[derive(Debug)]
pub struct PcapTx {
    path: PathBuf,
    frames: Vec<(u64, u16, u64, Vec<u8>)>,
}

impl PcapTx {
    /// Collect frames for `path` (written by [`PcapTx::finish`]).
    pub fn new(path: &Path) -> PcapTx {
        PcapTx {
            path: path.to_path_buf(),
            frames: Vec::new(),
        }
    }

    /// Record a transmitted packet and give its buffer back.
    pub fn record(&mut self, p: Packet, cache: &mut PoolCache) {
        self.frames
            .push((p.meta.seq, p.meta.sub, p.meta.timestamp_ns, p.to_vec()));
        cache.free(p);
    }

    /// Frames recorded.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Sort by (time, input sequence, sub-index) and write the file.
    ///
    /// # Errors
    /// I/O errors, with the file name.
    pub fn finish(mut self) -> Result<usize, PcapPortError> {
        // Time first, so the file is in time order; the trigger's sequence
        // number orders one instant. Stable: equal keys keep the order they
        // were sent in.
        self.frames.sort_by_key(|f| (f.2, f.0, f.1));
        let err = |reason| PcapPortError::Write {
            path: self.path.clone(),
            reason,
        };
        let file = std::fs::File::create(&self.path).map_err(err)?;
        let mut w =
            PcapWriter::new(io::BufWriter::new(file), 1, 262_144, Resolution::Nano).map_err(err)?;
        for (_, _, ts, data) in &self.frames {
            w.write(*ts, data).map_err(err)?;
        }
        w.finish().map_err(err)?;
        Ok(self.frames.len())
    }
}
