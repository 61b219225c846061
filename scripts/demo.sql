-- scripts/demo.sql — the tour: the four stories of DESIGN.md, then the reports.
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;
