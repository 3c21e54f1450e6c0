-- The ledger row of a bundle holds its DSSE envelope and the decoded statement; for a feed of
-- 10,000 records that is 3.2 MB and 1.3 MB, which the default pglz took about 50 ms to compress
-- inside every import transaction. lz4 (as the documents' columns already use) takes a few.
-- Applies to rows written from now on; stored rows keep their compression.
ALTER TABLE bundle_import ALTER COLUMN envelope SET COMPRESSION lz4, ALTER COLUMN statement SET COMPRESSION lz4;
