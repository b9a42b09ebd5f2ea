//! A JPEG decoder for what DICOM stores most: sequential Huffman DCT, 8-
//! and 12-bit (ISO 10918-1 processes 1, 2 and 4: JPEG Baseline and
//! Extended, transfer syntaxes 1.2.840.10008.1.2.4.50 and .51), and
//! lossless (process 14, Annex H: .57 and .70, 2 to 16 bits).
//!
//! jpeg-decoder, which dicom-pixeldata uses, decodes 8-bit DCT only, and
//! refuses lossless streams that name a quantisation table (DCMTK's
//! encoder does, harmlessly), while 12-bit extended is common in older CT,
//! MR and XA archives. This decoder covers those and does what DCMTK's
//! libjpeg does, step for step, so that `export` matches `dcmj2pnm`
//! sample for sample: the integer ("islow") IDCT, libjpeg's "fancy"
//! triangular upsampling of 2:1 chroma, and its fixed-point YCbCr to RGB
//! conversion. It takes Huffman coding, sequential scans (interleaved or
//! not), 8- or 16-bit quantisation tables, restart intervals and any
//! sampling factors (lossless: 1x1). Progressive, arithmetic, hierarchical
//! and subsampled lossless JPEG are refused with a reason (the caller can
//! then try another decoder). Samples come back one `u16` per sample,
//! components interleaved.

/// Why a JPEG stream cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JpegError {
    #[error("the JPEG stream ends early ({0})")]
    Truncated(&'static str),
    #[error("invalid JPEG stream: {0}")]
    Invalid(String),
    #[error("unsupported JPEG: {0}")]
    Unsupported(String),
}

/// A decoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub components: u16,
    pub precision: u8,
    /// `width * height * components` samples, components interleaved.
    pub samples: Vec<u16>,
}

/// The SOF marker of the stream and its sample precision, if it has one
/// before the first scan: lets the caller route 12-bit streams here.
pub fn frame_header(data: &[u8]) -> Option<(u8, u8)> {
    let mut pos = 2;
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return None;
    }
    loop {
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (&ff, &marker) = (data.get(pos)?, data.get(pos + 1)?);
        if ff != 0xFF {
            return None;
        }
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            return Some((marker, *data.get(pos + 4)?));
        }
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([
            *data.get(pos + 2)?,
            *data.get(pos + 3)?,
        ]));
        pos += 2 + len;
    }
}

/// Natural (row-major) index of the k-th coefficient in zig-zag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A Huffman table in the form of ISO 10918-1 F.2.2.3 (MAXCODE, VALPTR).
#[derive(Debug, Clone, Default)]
struct Huffman {
    max_code: [i32; 17],
    val_ptr: [i32; 17],
    min_code: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Huffman, JpegError> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > values.len() || total > 256 {
            return Err(JpegError::Invalid(
                "Huffman table with too few values".into(),
            ));
        }
        let mut table = Huffman {
            max_code: [-1; 17],
            values,
            ..Huffman::default()
        };
        let (mut code, mut k) = (0i32, 0i32);
        for length in 1..=16 {
            let count = i32::from(counts[length - 1]);
            table.val_ptr[length] = k;
            table.min_code[length] = code;
            code += count;
            k += count;
            table.max_code[length] = if count > 0 { code - 1 } else { -1 };
            if code > (1 << length) {
                return Err(JpegError::Invalid("over-subscribed Huffman table".into()));
            }
            code <<= 1;
        }
        Ok(table)
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<u8, JpegError> {
        // Look at the next 16 bits once and find the code length in them
        // (F.2.2.3 DECODE, without reading bit by bit).
        let window = bits.peek16();
        for length in 1..=16 {
            let code = (window >> (16 - length)) as i32;
            if code <= self.max_code[length] {
                bits.consume(length as u32);
                let index = self.val_ptr[length] + code - self.min_code[length];
                return self
                    .values
                    .get(index as usize)
                    .copied()
                    .ok_or_else(|| JpegError::Invalid("Huffman code out of range".into()));
            }
        }
        Err(JpegError::Invalid("bad Huffman code".into()))
    }
}

/// Reads entropy-coded bits: removes stuffed zero bytes, and stops at a
/// marker (returning zero bits after it, as decoders do for a short scan).
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buffer: u32,
    count: u32,
    /// A marker was met: no more data in this segment.
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            buffer: 0,
            count: 0,
            at_marker: false,
        }
    }

    fn fill(&mut self) {
        while self.count <= 24 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        _ => self.at_marker = true,
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                    None => self.at_marker = true,
                }
            }
            self.buffer |= u32::from(byte) << (24 - self.count);
            self.count += 8;
        }
    }

    /// The next 16 bits, not consumed.
    fn peek16(&mut self) -> u32 {
        if self.count < 16 {
            self.fill();
        }
        self.buffer >> 16
    }

    fn consume(&mut self, n: u32) {
        self.buffer <<= n;
        self.count -= n;
    }

    fn bits(&mut self, n: u32) -> Result<i32, JpegError> {
        if n == 0 {
            return Ok(0);
        }
        if self.count < n {
            self.fill();
        }
        let value = self.buffer >> (32 - n);
        self.consume(n);
        Ok(value as i32)
    }

    /// `RECEIVE` then `EXTEND` (F.2.2.1): `size` bits as a signed difference.
    fn receive_extend(&mut self, size: u8) -> Result<i32, JpegError> {
        if size == 0 {
            return Ok(0);
        }
        if size > 16 {
            return Err(JpegError::Invalid(format!("coefficient of {size} bits")));
        }
        let size = u32::from(size);
        let value = self.bits(size)?;
        Ok(if value < 1 << (size - 1) {
            value - (1 << size) + 1
        } else {
            value
        })
    }

    /// Skips to the restart marker expected after an interval and resets.
    fn restart(&mut self) -> Result<(), JpegError> {
        self.buffer = 0;
        self.count = 0;
        self.at_marker = false;
        // Skip fill bytes, then expect RSTn.
        while self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(m)) if (0xD0..=0xD7).contains(m) => {
                self.pos += 2;
                Ok(())
            }
            (None, _) | (_, None) => Err(JpegError::Truncated("restart marker")),
            // A missing restart marker: go on, as libjpeg does with a warning.
            _ => Ok(()),
        }
    }

    /// Position of the marker that ended the scan.
    fn end(&self) -> usize {
        let mut pos = self.pos;
        while pos + 1 < self.data.len() {
            if self.data[pos] == 0xFF && !matches!(self.data[pos + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
                return pos;
            }
            pos += 1;
        }
        self.data.len()
    }
}

#[derive(Debug, Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
    /// Blocks per line and per column in the component's plane, padded
    /// to whole MCUs.
    blocks_w: usize,
    blocks_h: usize,
    /// Decoded samples of the padded plane.
    plane: Vec<u16>,
    /// In 64 bits: a hostile stream can add differences without bound.
    dc_pred: i64,
}

struct Frame {
    /// Process 14 (SOF3): predicted samples, no DCT.
    lossless: bool,
    precision: u8,
    width: usize,
    height: usize,
    components: Vec<Component>,
    h_max: usize,
    v_max: usize,
    mcus_x: usize,
    mcus_y: usize,
}

fn be16(data: &[u8], pos: usize) -> Result<usize, JpegError> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => Err(JpegError::Truncated("marker segment")),
    }
}

fn segment(data: &[u8], pos: usize) -> Result<&[u8], JpegError> {
    let len = be16(data, pos)?;
    if len < 2 {
        return Err(JpegError::Invalid("marker segment length below 2".into()));
    }
    data.get(pos + 2..pos + len)
        .ok_or(JpegError::Truncated("marker segment"))
}

/// Decodes a sequential Huffman DCT JPEG stream (8- or 12-bit); with
/// `ycc_to_rgb`, three components are taken as YCbCr and converted to RGB
/// (DCMTK does so when the Photometric Interpretation is YBR_*).
pub fn decode(data: &[u8], ycc_to_rgb: bool) -> Result<Decoded, JpegError> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(JpegError::Invalid("no start of image marker".into()));
    }
    let mut pos = 2;
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc_tables: [Option<Huffman>; 4] = Default::default();
    let mut ac_tables: [Option<Huffman>; 4] = Default::default();
    let mut frame: Option<Frame> = None;
    let mut restart_interval = 0usize;
    loop {
        // Markers may be preceded by any number of fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let marker = match data.get(pos..pos + 2) {
            Some([0xFF, m]) => *m,
            Some(_) => return Err(JpegError::Invalid(format!("no marker at byte {pos}"))),
            // A missing EOI after the last scan: what was decoded stands.
            None if frame.is_some() => break,
            None => return Err(JpegError::Truncated("before the frame header")),
        };
        pos += 2;
        match marker {
            0xD9 => break,
            0xDB => {
                let body = segment(data, pos)?;
                let mut i = 0;
                while i < body.len() {
                    let (precision, id) = (body[i] >> 4, usize::from(body[i] & 15));
                    let size = if precision == 0 { 64 } else { 128 };
                    let values = body
                        .get(i + 1..i + 1 + size)
                        .ok_or(JpegError::Truncated("quantisation table"))?;
                    let mut table = [0u16; 64];
                    for (k, q) in table.iter_mut().enumerate() {
                        *q = if precision == 0 {
                            u16::from(values[k])
                        } else {
                            u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                        };
                    }
                    *quant
                        .get_mut(id)
                        .ok_or_else(|| JpegError::Invalid(format!("quantisation table {id}")))? =
                        Some(table);
                    i += 1 + size;
                }
                pos += body.len() + 2;
            }
            0xC4 => {
                let body = segment(data, pos)?;
                let mut i = 0;
                while i < body.len() {
                    let (class, id) = (body[i] >> 4, usize::from(body[i] & 15));
                    let counts: [u8; 16] = body
                        .get(i + 1..i + 17)
                        .and_then(|c| c.try_into().ok())
                        .ok_or(JpegError::Truncated("Huffman table"))?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = body
                        .get(i + 17..i + 17 + total)
                        .ok_or(JpegError::Truncated("Huffman table"))?
                        .to_vec();
                    let table = Huffman::new(&counts, values)?;
                    let slot = match class {
                        0 => dc_tables.get_mut(id),
                        1 => ac_tables.get_mut(id),
                        _ => None,
                    }
                    .ok_or_else(|| JpegError::Invalid(format!("Huffman table {class}/{id}")))?;
                    *slot = Some(table);
                    i += 17 + total;
                }
                pos += body.len() + 2;
            }
            0xC0 | 0xC1 | 0xC3 => {
                let body = segment(data, pos)?;
                frame = Some(read_frame(body, data.len(), marker == 0xC3)?);
                pos += body.len() + 2;
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => {
                return Err(JpegError::Unsupported("progressive DCT".into()));
            }
            0xC7 | 0xCB | 0xCF => {
                return Err(JpegError::Unsupported(
                    "differential or arithmetic lossless JPEG".into(),
                ));
            }
            0xC5 | 0xC9 | 0xCD => {
                return Err(JpegError::Unsupported(
                    "hierarchical or arithmetic JPEG".into(),
                ));
            }
            0xDD => {
                restart_interval = be16(data, pos + 2)?;
                pos += be16(data, pos)?;
            }
            0xDC => return Err(JpegError::Unsupported("DNL marker".into())),
            0xDA => {
                let body = segment(data, pos)?;
                let frame = frame
                    .as_mut()
                    .ok_or_else(|| JpegError::Invalid("scan before frame header".into()))?;
                let scan = read_scan(body, frame)?;
                pos += body.len() + 2;
                let tables = Tables {
                    quant: &quant,
                    dc: &dc_tables,
                    ac: &ac_tables,
                };
                pos = if frame.lossless {
                    decode_lossless_scan(data, pos, frame, &scan, &dc_tables, restart_interval)?
                } else {
                    decode_scan(
                        data,
                        pos,
                        frame,
                        &scan.components,
                        &tables,
                        restart_interval,
                    )?
                };
            }
            0xD0..=0xD7 | 0x01 => {}
            _ => {
                // APPn, COM and anything else with a length: skipped.
                pos += be16(data, pos)?;
            }
        }
    }
    let frame = frame.ok_or(JpegError::Truncated("no frame header"))?;
    let mut decoded = assemble(&frame);
    if ycc_to_rgb && decoded.components == 3 {
        ycc_to_rgb_in_place(&mut decoded.samples, decoded.precision);
    }
    Ok(decoded)
}

fn read_frame(body: &[u8], data_len: usize, lossless: bool) -> Result<Frame, JpegError> {
    if body.len() < 6 {
        return Err(JpegError::Truncated("frame header"));
    }
    let precision = body[0];
    if lossless && !(2..=16).contains(&precision) {
        return Err(JpegError::Invalid(format!(
            "{precision}-bit lossless samples"
        )));
    }
    if !lossless && precision != 8 && precision != 12 {
        return Err(JpegError::Unsupported(format!(
            "{precision}-bit DCT samples"
        )));
    }
    let height = usize::from(u16::from_be_bytes([body[1], body[2]]));
    let width = usize::from(u16::from_be_bytes([body[3], body[4]]));
    if height == 0 || width == 0 {
        return Err(JpegError::Unsupported(
            "image size 0 (height in a DNL marker)".into(),
        ));
    }
    let count = usize::from(body[5]);
    if count == 0 || count > 4 || body.len() < 6 + 3 * count {
        return Err(JpegError::Invalid(format!("{count} components")));
    }
    let mut components = Vec::with_capacity(count);
    for c in body[6..6 + 3 * count].chunks_exact(3) {
        let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        // Lossless JPEG has no quantisation table; some encoders (DCMTK's)
        // still name one, which does not matter.
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || (!lossless && c[2] > 3) {
            return Err(JpegError::Invalid("component sampling or table".into()));
        }
        if lossless && (h, v) != (1, 1) {
            return Err(JpegError::Unsupported("subsampled lossless JPEG".into()));
        }
        components.push(Component {
            id: c[0],
            h,
            v,
            quant: usize::from(c[2]),
            blocks_w: 0,
            blocks_h: 0,
            plane: Vec::new(),
            dc_pred: 0,
        });
    }
    let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max_check = components.iter().map(|c| c.v).max().unwrap_or(1);
    let blocks: usize = components
        .iter()
        .map(|c| width.div_ceil(8 * h_max) * c.h * height.div_ceil(8 * v_max_check) * c.v)
        .sum();
    // Lossless: at least one bit per sample.
    let limit = if lossless {
        8 * data_len / 64 + 64
    } else {
        4 * data_len + 64
    };
    if blocks > limit {
        // Every block takes at least two bits (a DC and an end-of-block
        // code): a header that claims more is damaged, and believing it
        // would allocate gigabytes.
        return Err(JpegError::Invalid(format!(
            "a {width}x{height} frame cannot fit in {data_len} bytes"
        )));
    }
    let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
    let mcus_x = width.div_ceil(8 * h_max);
    let mcus_y = height.div_ceil(8 * v_max);
    for c in &mut components {
        c.blocks_w = mcus_x * c.h;
        c.blocks_h = mcus_y * c.v;
        c.plane = vec![0; c.blocks_w * 8 * c.blocks_h * 8];
    }
    Ok(Frame {
        lossless,
        precision,
        width,
        height,
        components,
        h_max,
        v_max,
        mcus_x,
        mcus_y,
    })
}

/// One component of a scan: its index in the frame and its tables.
struct ScanComponent {
    index: usize,
    dc: usize,
    ac: usize,
}

/// A scan header: its components, and for lossless JPEG its predictor
/// (Ss) and point transform (Al).
struct Scan {
    components: Vec<ScanComponent>,
    predictor: u8,
    point_transform: u8,
}

fn read_scan(body: &[u8], frame: &Frame) -> Result<Scan, JpegError> {
    let count = usize::from(*body.first().ok_or(JpegError::Truncated("scan header"))?);
    if count == 0 || count > 4 || body.len() < 1 + 2 * count + 3 {
        return Err(JpegError::Invalid("scan header".into()));
    }
    let mut components = Vec::with_capacity(count);
    for c in body[1..1 + 2 * count].chunks_exact(2) {
        let index = frame
            .components
            .iter()
            .position(|fc| fc.id == c[0])
            .ok_or_else(|| JpegError::Invalid(format!("scan names unknown component {}", c[0])))?;
        components.push(ScanComponent {
            index,
            dc: usize::from(c[1] >> 4),
            ac: usize::from(c[1] & 15),
        });
    }
    let tail = &body[1 + 2 * count..];
    let (ss, se, al) = (tail[0], tail[1], tail[2] & 15);
    if frame.lossless {
        if !(1..=7).contains(&ss) || al >= frame.precision {
            return Err(JpegError::Unsupported(format!(
                "lossless predictor {ss} with point transform {al}"
            )));
        }
    } else if ss != 0 || se != 63 || tail[2] != 0 {
        return Err(JpegError::Unsupported(
            "a spectral selection (progressive scan)".into(),
        ));
    }
    Ok(Scan {
        components,
        predictor: ss,
        point_transform: al,
    })
}

struct Tables<'a> {
    quant: &'a [Option<[u16; 64]>; 4],
    dc: &'a [Option<Huffman>; 4],
    ac: &'a [Option<Huffman>; 4],
}

/// Decodes one scan starting at `pos`; returns the position after it.
fn decode_scan(
    data: &[u8],
    pos: usize,
    frame: &mut Frame,
    scan: &[ScanComponent],
    tables: &Tables<'_>,
    restart_interval: usize,
) -> Result<usize, JpegError> {
    let missing = |what: &str| JpegError::Invalid(format!("scan uses an undefined {what}"));
    let mut resolved = Vec::with_capacity(scan.len());
    for sc in scan {
        let component = &frame.components[sc.index];
        let q = tables
            .quant
            .get(component.quant)
            .and_then(Option::as_ref)
            .ok_or_else(|| missing("quantisation table"))?;
        let dc = tables
            .dc
            .get(sc.dc)
            .and_then(Option::as_ref)
            .ok_or_else(|| missing("DC table"))?;
        let ac = tables
            .ac
            .get(sc.ac)
            .and_then(Option::as_ref)
            .ok_or_else(|| missing("AC table"))?;
        resolved.push((sc.index, q, dc, ac));
    }
    for c in &mut frame.components {
        c.dc_pred = 0;
    }
    let shift = 1i32 << (frame.precision - 1);
    let max = (1i32 << frame.precision) - 1;
    let mut bits = BitReader::new(data, pos);
    let mut block = [0i64; 64];
    // A non-interleaved scan covers the component's own blocks, only
    // those inside the image (A.2.2); an interleaved one whole MCUs.
    let units: Vec<(usize, usize, usize)> = if resolved.len() == 1 {
        let c = &frame.components[resolved[0].0];
        let w = (frame.width * c.h).div_ceil(frame.h_max).div_ceil(8);
        let h = (frame.height * c.v).div_ceil(frame.v_max).div_ceil(8);
        (0..h)
            .flat_map(|by| (0..w).map(move |bx| (0, bx, by)))
            .collect()
    } else {
        (0..frame.mcus_y)
            .flat_map(|my| (0..frame.mcus_x).map(move |mx| (1, mx, my)))
            .collect()
    };
    for (n, &(kind, ux, uy)) in units.iter().enumerate() {
        if restart_interval > 0 && n > 0 && n % restart_interval == 0 {
            bits.restart()?;
            for c in &mut frame.components {
                c.dc_pred = 0;
            }
        }
        for &(index, q, dc, ac) in &resolved {
            let (h, v) = if kind == 0 {
                (1, 1)
            } else {
                (frame.components[index].h, frame.components[index].v)
            };
            for by in 0..v {
                for bx in 0..h {
                    let c = &mut frame.components[index];
                    block.fill(0);
                    let size = dc.decode(&mut bits)?;
                    // Kept within what 16 bits of coefficient can mean, so
                    // that no product below overflows on damaged data.
                    c.dc_pred = (c.dc_pred + i64::from(bits.receive_extend(size)?))
                        .clamp(-(1 << 20), 1 << 20);
                    block[0] = c.dc_pred * i64::from(q[0]);
                    let mut k = 1;
                    while k < 64 {
                        let rs = ac.decode(&mut bits)?;
                        let (run, size) = (usize::from(rs >> 4), rs & 15);
                        if size == 0 {
                            if run == 15 {
                                k += 16;
                                continue;
                            }
                            break;
                        }
                        k += run;
                        if k > 63 {
                            return Err(JpegError::Invalid("AC run past the block".into()));
                        }
                        block[ZIGZAG[k]] = i64::from(bits.receive_extend(size)?) * i64::from(q[k]);
                        k += 1;
                    }
                    let (px, py) = if kind == 0 {
                        (ux, uy)
                    } else {
                        (ux * h + bx, uy * v + by)
                    };
                    let stride = c.blocks_w * 8;
                    let samples = idct(&block, frame.precision);
                    for y in 0..8 {
                        let row = (py * 8 + y) * stride + px * 8;
                        for x in 0..8 {
                            let value = (samples[y * 8 + x] + shift).clamp(0, max);
                            c.plane[row + x] = value as u16;
                        }
                    }
                }
            }
        }
    }
    Ok(bits.end())
}

/// Decodes one lossless scan (ISO 10918-1 Annex H) starting at `pos`;
/// returns the position after it. Each sample is its prediction from the
/// neighbours already decoded (left Ra, above Rb, above-left Rc, by the
/// scan's predictor) plus a Huffman-coded difference, modulo 2^16. The
/// first row of the scan and of each restart interval is predicted from
/// the left (its first sample from 2^(P-Pt-1)), the first column from above.
fn decode_lossless_scan(
    data: &[u8],
    pos: usize,
    frame: &mut Frame,
    scan: &Scan,
    dc_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> Result<usize, JpegError> {
    let mut tables = Vec::with_capacity(scan.components.len());
    for sc in &scan.components {
        let table = dc_tables
            .get(sc.dc)
            .and_then(Option::as_ref)
            .ok_or_else(|| JpegError::Invalid("scan uses an undefined DC table".into()))?;
        tables.push((sc.index, table));
    }
    let (width, height) = (frame.width, frame.height);
    let pt = u32::from(scan.point_transform);
    let initial = 1i32 << (u32::from(frame.precision) - pt - 1);
    let mut bits = BitReader::new(data, pos);
    // Where the current restart interval began: its first row is predicted
    // like the first row of the image.
    let (mut start_row, mut start_col) = (0usize, 0usize);
    let mut mcu = 0usize;
    for y in 0..height {
        for x in 0..width {
            if restart_interval > 0 && mcu > 0 && mcu.is_multiple_of(restart_interval) {
                bits.restart()?;
                (start_row, start_col) = (y, x);
            }
            mcu += 1;
            for &(index, table) in &tables {
                let c = &mut frame.components[index];
                let stride = c.blocks_w * 8;
                let at = |xx: usize, yy: usize| i32::from(c.plane[yy * stride + xx]);
                let prediction = if y == start_row {
                    if x == start_col {
                        initial
                    } else {
                        at(x - 1, y)
                    }
                } else if x == 0 {
                    at(0, y - 1)
                } else {
                    let (ra, rb, rc) = (at(x - 1, y), at(x, y - 1), at(x - 1, y - 1));
                    match scan.predictor {
                        1 => ra,
                        2 => rb,
                        3 => rc,
                        4 => ra + rb - rc,
                        5 => ra + ((rb - rc) >> 1),
                        6 => rb + ((ra - rc) >> 1),
                        _ => (ra + rb) >> 1,
                    }
                };
                let size = table.decode(&mut bits)?;
                let difference = match size {
                    16 => 32768,
                    0..=15 => bits.receive_extend(size)?,
                    _ => return Err(JpegError::Invalid(format!("difference of {size} bits"))),
                };
                c.plane[y * stride + x] = ((prediction + difference) & 0xFFFF) as u16;
            }
        }
    }
    // The point transform dropped Pt low bits: put them back as zeros.
    if pt > 0 {
        for sc in &scan.components {
            let c = &mut frame.components[sc.index];
            let stride = c.blocks_w * 8;
            for y in 0..height {
                for value in &mut c.plane[y * stride..y * stride + width] {
                    *value <<= pt;
                }
            }
        }
    }
    Ok(bits.end())
}

/// The 8x8 inverse DCT (A.3.3) in the integer form of the IJG library's
/// "islow" method (the Loeffler-Ligtenberg-Moschytz factorisation, 13-bit
/// fixed-point constants), which is what DCMTK's decoders use by default:
/// the same arithmetic gives the same samples, where a floating-point IDCT
/// is off by one on some of them. Returns samples before the level shift.
fn idct(block: &[i64; 64], precision: u8) -> [i32; 64] {
    // Bits kept between the passes: fewer for 12-bit to stay in range.
    let pass1: u32 = if precision == 8 { 2 } else { 1 };
    let mut work = [0i64; 64];
    for column in 0..8 {
        let input: [i64; 8] = std::array::from_fn(|row| block[row * 8 + column]);
        let out = idct_1d(&input);
        for (row, value) in out.into_iter().enumerate() {
            work[row * 8 + column] = descale(value, CONST_BITS - pass1);
        }
    }
    let mut samples = [0i32; 64];
    for row in 0..8 {
        let input: [i64; 8] = std::array::from_fn(|column| work[row * 8 + column]);
        let out = idct_1d(&input);
        for (column, value) in out.into_iter().enumerate() {
            // Clamped like libjpeg's range limit; damaged data may overshoot.
            samples[row * 8 + column] =
                descale(value, CONST_BITS + pass1 + 3).clamp(-(1 << 16), 1 << 16) as i32;
        }
    }
    samples
}

const CONST_BITS: u32 = 13;

/// `x / 2^n`, rounded half up, in integers.
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// One 8-point pass, scaled by `2^CONST_BITS` (and by sqrt(8) overall,
/// which the two descales remove).
fn idct_1d(x: &[i64; 8]) -> [i64; 8] {
    // round(c * 2^13) for the rotation constants.
    const F0_298: i64 = 2446;
    const F0_390: i64 = 3196;
    const F0_541: i64 = 4433;
    const F0_765: i64 = 6270;
    const F0_899: i64 = 7373;
    const F1_175: i64 = 9633;
    const F1_501: i64 = 12299;
    const F1_847: i64 = 15137;
    const F1_961: i64 = 16069;
    const F2_053: i64 = 16819;
    const F2_562: i64 = 20995;
    const F3_072: i64 = 25172;
    // Even part.
    let z1 = (x[2] + x[6]) * F0_541;
    let t2 = z1 - x[6] * F1_847;
    let t3 = z1 + x[2] * F0_765;
    let t0 = (x[0] + x[4]) << CONST_BITS;
    let t1 = (x[0] - x[4]) << CONST_BITS;
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    // Odd part.
    let (o0, o1, o2, o3) = (x[7], x[5], x[3], x[1]);
    let z5 = (o0 + o3 + o1 + o2) * F1_175;
    let z1 = -(o0 + o3) * F0_899;
    let z2 = -(o1 + o2) * F2_562;
    let z3 = -(o0 + o2) * F1_961 + z5;
    let z4 = -(o1 + o3) * F0_390 + z5;
    let o0 = o0 * F0_298 + z1 + z3;
    let o1 = o1 * F2_053 + z2 + z4;
    let o2 = o2 * F3_072 + z2 + z3;
    let o3 = o3 * F1_501 + z1 + z4;
    [
        t10 + o3,
        t11 + o2,
        t12 + o1,
        t13 + o0,
        t13 - o0,
        t12 - o1,
        t11 - o2,
        t10 - o3,
    ]
}

/// Interleaves the component planes at full resolution.
fn assemble(frame: &Frame) -> Decoded {
    let count = frame.components.len();
    let (width, height) = (frame.width, frame.height);
    let mut samples = vec![0u16; width * height * count];
    for (ci, c) in frame.components.iter().enumerate() {
        let plane = upsample(frame, c);
        for (i, &value) in plane.iter().enumerate() {
            samples[i * count + ci] = value;
        }
    }
    Decoded {
        width: width as u32,
        height: height as u32,
        components: count as u16,
        precision: frame.precision,
        samples,
    }
}

/// One component at the image's size, as libjpeg's upsampler (jdsample.c)
/// makes it: full-size planes as they are, 2:1 horizontal or 2:1 both ways
/// with its triangular ("fancy") filter, any other ratio by replication.
fn upsample(frame: &Frame, c: &Component) -> Vec<u16> {
    let (width, height) = (frame.width, frame.height);
    let stride = c.blocks_w * 8;
    // The component's own size (A.1.1), within its padded plane.
    let dw = (width * c.h).div_ceil(frame.h_max);
    let dh = (height * c.v).div_ceil(frame.v_max);
    let at = |x: usize, y: usize| i32::from(c.plane[y * stride + x]);
    let mut out = vec![0u16; width * height];
    let h_ratio = frame.h_max / c.h;
    let v_ratio = frame.v_max / c.v;
    let exact = frame.h_max.is_multiple_of(c.h) && frame.v_max.is_multiple_of(c.v);
    let fancy = exact && h_ratio == 2 && v_ratio <= 2 && dw > 2;
    if fancy {
        let mut row = vec![0u16; 2 * dw];
        for y in 0..height {
            let r = y / v_ratio;
            // h2v2 mixes in the row above (even output rows) or below (odd
            // ones), the first and last rows standing in for those beyond.
            let column_sum = |x: usize| -> i32 {
                if v_ratio == 1 {
                    at(x, r)
                } else {
                    let other = if y % 2 == 0 {
                        r.saturating_sub(1)
                    } else {
                        (r + 1).min(dh - 1)
                    };
                    3 * at(x, r) + at(x, other)
                }
            };
            if v_ratio == 1 {
                // h2v1: 3/4 of the nearer sample, 1/4 of the further one.
                row[0] = at(0, r) as u16;
                row[1] = ((3 * at(0, r) + at(1, r) + 2) >> 2) as u16;
                for x in 1..dw - 1 {
                    let v = 3 * at(x, r);
                    row[2 * x] = ((v + at(x - 1, r) + 1) >> 2) as u16;
                    row[2 * x + 1] = ((v + at(x + 1, r) + 2) >> 2) as u16;
                }
                let last = dw - 1;
                row[2 * last] = ((3 * at(last, r) + at(last - 1, r) + 1) >> 2) as u16;
                row[2 * last + 1] = at(last, r) as u16;
            } else {
                // Column sums of the previous, current and next input column.
                let mut sums = (0, column_sum(0), column_sum(1));
                row[0] = ((sums.1 * 4 + 8) >> 4) as u16;
                row[1] = ((sums.1 * 3 + sums.2 + 7) >> 4) as u16;
                for x in 1..dw - 1 {
                    sums = (sums.1, sums.2, column_sum(x + 1));
                    row[2 * x] = ((sums.1 * 3 + sums.0 + 8) >> 4) as u16;
                    row[2 * x + 1] = ((sums.1 * 3 + sums.2 + 7) >> 4) as u16;
                }
                let (previous, this) = (sums.1, sums.2);
                let last = dw - 1;
                row[2 * last] = ((this * 3 + previous + 8) >> 4) as u16;
                row[2 * last + 1] = ((this * 4 + 7) >> 4) as u16;
            }
            out[y * width..(y + 1) * width].copy_from_slice(&row[..width]);
        }
    } else {
        for y in 0..height {
            let sy = (y * c.v / frame.v_max).min(dh.saturating_sub(1));
            for x in 0..width {
                let sx = (x * c.h / frame.h_max).min(dw.saturating_sub(1));
                out[y * width + x] = c.plane[sy * stride + sx];
            }
        }
    }
    out
}

/// YCbCr (JFIF, full range) to RGB in libjpeg's fixed point (jdcolor.c):
/// 16 fractional bits, products rounded, results clamped.
fn ycc_to_rgb_in_place(samples: &mut [u16], precision: u8) {
    const SCALE: u32 = 16;
    let fix = |x: f64| (x * f64::from(1u32 << SCALE) + 0.5) as i64;
    let half = 1i64 << (SCALE - 1);
    let center = 1i64 << (precision - 1);
    let max = (1i64 << precision) - 1;
    for ycc in samples.chunks_exact_mut(3) {
        let (y, cb, cr) = (
            i64::from(ycc[0]),
            i64::from(ycc[1]) - center,
            i64::from(ycc[2]) - center,
        );
        let r = y + ((fix(1.40200) * cr + half) >> SCALE);
        let g = y + ((-fix(0.34414) * cb + half - fix(0.71414) * cr) >> SCALE);
        let b = y + ((fix(1.77200) * cb + half) >> SCALE);
        for (out, value) in ycc.iter_mut().zip([r, g, b]) {
            *out = value.clamp(0, max) as u16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12-bit, 16x8 grayscale JPEG, two blocks with only a DC value:
    /// stored 1000 and [`second_value`] (DC = (value - 2048) * 8 / q with
    /// q = 2), every difference of category 13 so one code serves all.
    fn two_flat_blocks(restart: bool) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        // DQT: 8-bit table 0, all 2.
        j.extend([0xFF, 0xDB, 0, 67, 0x00]);
        j.extend([2u8; 64]);
        // SOF1: 12-bit, 8 rows, 16 columns, one component.
        j.extend([0xFF, 0xC1, 0, 11, 12, 0, 8, 0, 16, 1, 1, 0x11, 0]);
        // DHT DC 0: one code of length 1 for category 13 ("0"), and
        // AC 0: one code of length 1 for EOB ("0").
        j.extend([
            0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 13,
        ]);
        j.extend([
            0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        if restart {
            j.extend([0xFF, 0xDD, 0, 4, 0, 1]);
        }
        j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
        // DC diff of block 1: (1000 - 2048) * 8 / 2 = -4192, 13 bits:
        // -4192 + 8191 = 3999. Block 2: with a restart the predictor is
        // reset, so the diff is (3500-2048)*4 = 5808; else it is
        // (3000-2048)*4 + 4192 = 8000.
        let second = if restart { 5808 } else { 8000 };
        let mut bits: Vec<u8> = Vec::new();
        let mut scan = Vec::new();
        push(&mut bits, 0, 1);
        push(&mut bits, 3999, 13);
        push(&mut bits, 0, 1);
        if restart {
            flush(&mut bits, &mut scan);
            scan.extend([0xFF, 0xD0]);
        }
        push(&mut bits, 0, 1);
        push(&mut bits, second, 13);
        push(&mut bits, 0, 1);
        flush(&mut bits, &mut scan);
        j.extend(scan);
        j.extend([0xFF, 0xD9]);
        j
    }

    fn push(bits: &mut Vec<u8>, value: u32, n: u32) {
        for i in (0..n).rev() {
            bits.push(((value >> i) & 1) as u8);
        }
    }

    /// Pads with 1 bits to a byte boundary and stuffs 0xFF bytes.
    fn flush(bits: &mut Vec<u8>, out: &mut Vec<u8>) {
        while !bits.len().is_multiple_of(8) {
            bits.push(1);
        }
        for byte in bits.chunks(8) {
            let b = byte.iter().fold(0u8, |acc, &x| (acc << 1) | x);
            out.push(b);
            if b == 0xFF {
                out.push(0);
            }
        }
        bits.clear();
    }

    fn second_value(restart: bool) -> u16 {
        if restart { 3500 } else { 3000 }
    }

    #[test]
    fn twelve_bit_flat_blocks_decode_to_their_dc_value() {
        for restart in [false, true] {
            let stream = two_flat_blocks(restart);
            assert_eq!(frame_header(&stream), Some((0xC1, 12)));
            let image = decode(&stream, false).unwrap();
            assert_eq!((image.width, image.height, image.precision), (16, 8, 12));
            for y in 0..8 {
                let row = &image.samples[y * 16..y * 16 + 16];
                assert!(row[..8].iter().all(|&s| s == 1000), "{restart} {row:?}");
                assert!(
                    row[8..].iter().all(|&s| s == second_value(restart)),
                    "{restart} {row:?}"
                );
            }
        }
    }

    #[test]
    fn truncated_and_progressive_streams_are_errors_not_panics() {
        let stream = two_flat_blocks(false);
        for cut in 0..stream.len() {
            let _ = decode(&stream[..cut], false);
        }
        let mut progressive = stream.clone();
        let sof = progressive
            .windows(2)
            .position(|w| w == [0xFF, 0xC1])
            .unwrap();
        progressive[sof + 1] = 0xC2;
        assert!(matches!(
            decode(&progressive, false),
            Err(JpegError::Unsupported(_))
        ));
    }

    #[test]
    fn damaged_streams_never_panic() {
        // Deterministic byte flips over a valid stream, and a frame header
        // that claims an enormous image.
        let stream = two_flat_blocks(true);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            let mut damaged = stream.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % damaged.len() as u64) as usize;
                damaged[at] = (seed >> 32) as u8;
            }
            let _ = decode(&damaged, true);
        }
        let mut huge = stream.clone();
        let sof = huge.windows(2).position(|w| w == [0xFF, 0xC1]).unwrap();
        huge[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(decode(&huge, false), Err(JpegError::Invalid(_))));
    }

    #[test]
    fn ycc_grays_stay_gray_and_red_is_red() {
        let mut px = [128u16, 128, 128, 76, 85, 255];
        ycc_to_rgb_in_place(&mut px, 8);
        assert_eq!(px[..3], [128, 128, 128]);
        assert!(px[3] >= 253 && px[4] <= 2 && px[5] <= 2, "{px:?}");
    }

    #[test]
    fn idct_of_a_dc_coefficient_is_flat() {
        let mut block = [0i64; 64];
        block[0] = 80;
        assert!(idct(&block, 12).iter().all(|&v| v == 10));
        assert!(idct(&block, 8).iter().all(|&v| v == 10));
    }

    #[test]
    fn integer_idct_is_within_one_of_the_exact_transform() {
        use std::f64::consts::PI;
        let mut block = [0i64; 64];
        for (i, b) in block.iter_mut().enumerate() {
            *b = ((i as i64 * 37) % 200) - 100;
        }
        block[0] = 1200;
        let exact = |x: usize, y: usize| -> f64 {
            let c = |u: usize| if u == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
            let mut sum = 0.0;
            for v in 0..8 {
                for u in 0..8 {
                    sum += c(u)
                        * c(v)
                        * block[v * 8 + u] as f64
                        * ((2 * x + 1) as f64 * u as f64 * PI / 16.0).cos()
                        * ((2 * y + 1) as f64 * v as f64 * PI / 16.0).cos();
                }
            }
            sum / 4.0
        };
        let out = idct(&block, 12);
        for y in 0..8 {
            for x in 0..8 {
                let e = exact(x, y);
                assert!(
                    (f64::from(out[y * 8 + x]) - e).abs() <= 1.0,
                    "{x},{y}: {} vs {e}",
                    out[y * 8 + x]
                );
            }
        }
    }
}
