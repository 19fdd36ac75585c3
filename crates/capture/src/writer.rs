//! Classic pcap output, deterministic byte for byte.

use std::io::{self, Write};

/// Timestamp resolution of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Microseconds (magic 0xa1b2c3d4): what every tool reads.
    Micro,
    /// Nanoseconds (magic 0xa1b23c4d).
    Nano,
}

/// Writes little-endian classic pcap.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    resolution: Resolution,
    snaplen: u32,
    frames: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header.
    ///
    /// # Errors
    /// I/O errors from `out`.
    pub fn new(
        mut out: W,
        linktype: u32,
        snaplen: u32,
        resolution: Resolution,
    ) -> io::Result<Self> {
        let magic: u32 = match resolution {
            Resolution::Micro => 0xa1b2_c3d4,
            Resolution::Nano => 0xa1b2_3c4d,
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            resolution,
            snaplen,
            frames: 0,
        })
    }

    /// Append one frame captured at `ts_ns`; frames longer than the snap
    /// length are truncated with their original length recorded.
    ///
    /// # Errors
    /// I/O errors from the writer.
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let incl = data.len().min(self.snaplen as usize);
        let sec = (ts_ns / 1_000_000_000) as u32;
        let frac = match self.resolution {
            Resolution::Micro => (ts_ns % 1_000_000_000) / 1000,
            Resolution::Nano => ts_ns % 1_000_000_000,
        } as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..incl])?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flush and return the underlying writer.
    ///
    /// # Errors
    /// I/O errors from the final flush.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
