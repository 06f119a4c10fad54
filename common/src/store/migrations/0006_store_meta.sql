-- Version 6: facts about the store itself.
--
-- key_binding: a value derived one-way from the key file that this store's secrets are sealed
-- with (MasterKey::binding). A front-end refuses a store whose binding is another key's: a
-- store replaced by one made elsewhere (an empty one, under nullok, would let everyone in).
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
