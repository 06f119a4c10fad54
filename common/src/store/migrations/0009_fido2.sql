-- Version 9: FIDO2 factors (kind 'fido2'): security keys used on this machine (enrolled here or
-- brought over from pam_u2f), and OpenSSH security keys that sshd has already verified.
-- Nothing here is secret: public keys, credential ids, options and a counter.
ALTER TABLE factors ADD COLUMN fido_transport TEXT CHECK (fido_transport IN ('local', 'ssh'));
-- The credential id (empty: a resident credential found by rp id, pam_u2f's '*'); NULL for ssh.
ALTER TABLE factors ADD COLUMN fido_credential_id BLOB;
ALTER TABLE factors ADD COLUMN fido_alg INTEGER CHECK (fido_alg IN (-7, -8));
-- local: the raw key (04 || x || y, or 32 bytes Ed25519); ssh: the key's whole wire blob.
ALTER TABLE factors ADD COLUMN fido_public_key BLOB;
-- local: the relying party id it was made for; ssh: the key's application ('ssh:').
ALTER TABLE factors ADD COLUMN fido_rp_id TEXT;
ALTER TABLE factors ADD COLUMN fido_presence INTEGER CHECK (fido_presence IN (0, 1));
ALTER TABLE factors ADD COLUMN fido_uv TEXT CHECK (fido_uv IN ('required', 'preferred', 'discouraged'));
ALTER TABLE factors ADD COLUMN fido_pin INTEGER CHECK (fido_pin IN (0, 1));
ALTER TABLE factors ADD COLUMN fido_resident INTEGER CHECK (fido_resident IN (0, 1));
-- Backup eligibility (1) and state (2) at enrollment; NULL: not known (imported).
ALTER TABLE factors ADD COLUMN fido_backup INTEGER CHECK (fido_backup BETWEEN 0 AND 3);
-- The last signature counter accepted (claimed only if it increases, or stays 0 on a key that
-- keeps none).
ALTER TABLE factors ADD COLUMN fido_sign_count INTEGER CHECK (fido_sign_count BETWEEN 0 AND 4294967295);
ALTER TABLE factors ADD COLUMN fido_origin TEXT CHECK (fido_origin IN ('enrolled', 'pam_u2f'));
