//! QR codes drawn in a terminal with Unicode half blocks (two rows of modules per line).

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// A QR code of `text`, quiet zone included, light modules drawn as blocks (readable on the
/// dark background of most terminals). `None` when the text is too long for a QR code.
pub fn half_blocks(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// `text`'s lines gathered into messages of at most `max_bytes` each (a line longer than that
/// is a message of its own), for conversations that limit a message's size (PAM: 512 bytes).
pub fn in_messages(text: &str, max_bytes: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if !current.is_empty() && current.len() + 1 + line.len() > max_bytes {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_draws_as_half_blocks_in_small_messages() {
        let uri = "otpauth://totp/Tessera:alice@bastion?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Tessera&algorithm=SHA1&digits=6&period=30";
        let q = half_blocks(uri).unwrap();
        assert!(q.lines().count() > 15, "{q}");
        assert!(q.contains('\u{2588}') || q.contains('\u{2580}') || q.contains('\u{2584}'));
        let parts = in_messages(&q, 480);
        assert!(parts.len() > 2);
        assert!(parts.iter().all(|p| p.len() <= 480), "{parts:?}");
        assert_eq!(parts.join("\n"), q.lines().collect::<Vec<_>>().join("\n"));
    }
}
