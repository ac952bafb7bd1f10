-- A post's body rendered for reading (sanitized HTML, table of contents, reading time), as
-- JSON, written with each revision of the body. NULL for a body written before: it is
-- rendered when read.
ALTER TABLE posts ADD COLUMN rendered TEXT;
