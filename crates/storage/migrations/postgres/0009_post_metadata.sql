-- Frontmatter keys quire has no field for (an imported post's `image`, `aliases`, a theme's
-- own keys), as one JSON object, kept so that an export writes them back. NULL for none.
ALTER TABLE posts ADD COLUMN metadata TEXT;
