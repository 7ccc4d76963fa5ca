-- 0004: a measure's plausible range, where the lab team knows one (a wellbeing score of
-- 14 to 70, a rate of 0 to 50 per 100 people). Results outside it are flagged in the upload
-- preview and the entry grid, and stored only once the person confirms them. A table of its
-- own: DuckDB cannot alter the measure table, which others reference.
CREATE TABLE measure_range (
    measure_id  INTEGER PRIMARY KEY REFERENCES measure (id),
    low         DOUBLE,
    high        DOUBLE,
    CHECK (low IS NULL OR high IS NULL OR low < high)
);
