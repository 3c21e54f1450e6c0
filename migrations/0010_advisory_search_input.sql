-- advisory.search stops being a generated column, so that an importer can compute the vector on
-- a second connection (a second CPU) while its own transaction stores the rows: `to_tsvector` of
-- the details costs about as much as all the rest of an advisory's row together, and a generated
-- column makes the inserting backend compute it. The definition does not change:
--
-- * stella_advisory_search_of(head, summary, details) is the vector; head is the advisory id and
--   its aliases joined by spaces. Importers call it for a batch with unnest() on their helper
--   connection and send the result with the row.
-- * stella_advisory_search(advisory_id, aliases, summary, details) is the former generated
--   expression, written with the function above.
-- * Every other writer (snapshot import, hand-written SQL) leaves search NULL and the trigger
--   fills it, before the row is stored, from the same function.
--
-- DROP EXPRESSION changes the catalog only: the stored vectors stay as they are, and they are
-- what the function computes. Advisory rows are never updated.

CREATE FUNCTION stella_advisory_search_of(head text, summary text, details text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('simple'::regconfig, coalesce(head, '')), 'A') ||
           setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'B') ||
           setweight(to_tsvector('english'::regconfig, coalesce(details, '')), 'C');

CREATE FUNCTION stella_advisory_search(advisory_id text, aliases text[], summary text, details text)
    RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN stella_advisory_search_of(
        coalesce(advisory_id, '') || ' ' || coalesce(stella_text_array_join(aliases), ''), summary, details);

ALTER TABLE advisory ALTER COLUMN search DROP EXPRESSION;
COMMENT ON COLUMN advisory.search IS 'stella_advisory_search(advisory_id, aliases, summary, details): sent by the importer or filled by trigger advisory_search_fill';

CREATE FUNCTION stella_advisory_search_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := stella_advisory_search(NEW.advisory_id, NEW.aliases, NEW.summary, NEW.details);
    RETURN NEW;
END $$;
-- The WHEN clause is evaluated without calling the function: rows that arrive with their vector
-- cost nothing here.
CREATE TRIGGER advisory_search_fill BEFORE INSERT ON advisory
    FOR EACH ROW WHEN (NEW.search IS NULL) EXECUTE FUNCTION stella_advisory_search_fill();
