-- Customer search (`lower(col) LIKE '%term%'`) stays fast on large tenants: an FTS5 index of
-- trigrams over key, email and name narrows the candidates, the LIKE conditions then decide.
-- Rows are linked by rowid (kept in step by triggers). A manual VACUUM may renumber the rowids
-- of `customers`; docs/deploy.md shows the two statements that rebuild this index afterwards.
CREATE VIRTUAL TABLE customers_search USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO customers_search (rowid, text)
SELECT rowid, key || ' ' || coalesce(email, '') || ' ' || coalesce(name, '') FROM customers;

CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_search (rowid, text)
    VALUES (new.rowid, new.key || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.name, ''));
END;

CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN
    DELETE FROM customers_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER customers_search_update AFTER UPDATE OF key, email, name ON customers
WHEN old.key IS NOT new.key OR old.email IS NOT new.email OR old.name IS NOT new.name
BEGIN
    DELETE FROM customers_search WHERE rowid = old.rowid;
    INSERT INTO customers_search (rowid, text)
    VALUES (new.rowid, new.key || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.name, ''));
END;
