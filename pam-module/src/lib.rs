//! PAM module (filled in by the PAM issue).
