//! A minimal ELF64 little-endian ppc64 executable writer: one read/execute segment for the
//! code and one read/write segment for the data (with a zero-filled tail).

/// Builds an ET_EXEC image with `text` at `text_addr` and `data` at `data_addr` followed by
/// `bss` zero bytes. Both addresses must be 64 KiB aligned.
pub fn build(
    entry: u64,
    text_addr: u64,
    text: &[u8],
    data_addr: u64,
    data: &[u8],
    bss: u64,
) -> Vec<u8> {
    const PAGE: u64 = 0x10000;
    let text_off = PAGE;
    let data_off = text_off + (text.len() as u64).div_ceil(PAGE) * PAGE;
    let mut f = Vec::with_capacity(data_off as usize + data.len());
    let le16 = |f: &mut Vec<u8>, v: u16| f.extend_from_slice(&v.to_le_bytes());
    let le32 = |f: &mut Vec<u8>, v: u32| f.extend_from_slice(&v.to_le_bytes());
    let le64 = |f: &mut Vec<u8>, v: u64| f.extend_from_slice(&v.to_le_bytes());
    // e_ident
    f.extend_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    le16(&mut f, 2); // ET_EXEC
    le16(&mut f, 21); // EM_PPC64
    le32(&mut f, 1); // EV_CURRENT
    le64(&mut f, entry);
    le64(&mut f, 64); // e_phoff
    le64(&mut f, 0); // e_shoff
    le32(&mut f, 2); // e_flags: ELFv2
    le16(&mut f, 64); // e_ehsize
    le16(&mut f, 56); // e_phentsize
    le16(&mut f, 2); // e_phnum
    le16(&mut f, 64); // e_shentsize
    le16(&mut f, 0); // e_shnum
    le16(&mut f, 0); // e_shstrndx
    let ph = |f: &mut Vec<u8>, flags: u32, off: u64, addr: u64, filesz: u64, memsz: u64| {
        le32(f, 1); // PT_LOAD
        le32(f, flags);
        le64(f, off);
        le64(f, addr);
        le64(f, addr);
        le64(f, filesz);
        le64(f, memsz);
        le64(f, PAGE);
    };
    ph(
        &mut f,
        5,
        text_off,
        text_addr,
        text.len() as u64,
        text.len() as u64,
    );
    ph(
        &mut f,
        6,
        data_off,
        data_addr,
        data.len() as u64,
        data.len() as u64 + bss,
    );
    f.resize(text_off as usize, 0);
    f.extend_from_slice(text);
    f.resize(data_off as usize, 0);
    f.extend_from_slice(data);
    f
}
