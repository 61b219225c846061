-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_bigquery;
CREATE DATABASE regress_bigquery;
\c regress_bigquery
\set ECHO all
-- phoenix.check_bigquery: every column BigQuery's federation cannot read,
-- with the reason and a cast that fixes it; nothing for plain scalar tables.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse

CREATE SCHEMA bq_test;
CREATE TYPE bq_test.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE bq_test.pair AS (a int, b text);
CREATE DOMAIN bq_test.tags AS text[];
CREATE DOMAIN bq_test.email AS text CHECK (VALUE LIKE '%@%');
CREATE DOMAIN bq_test.doc AS jsonb;
CREATE TABLE bq_test.everything (
  id          bigint PRIMARY KEY,
  ok_bool     boolean,
  ok_int2     smallint,
  ok_int4     integer,
  ok_float4   real,
  ok_float8   double precision,
  ok_numeric  numeric,
  ok_num_38_9 numeric(38, 9),
  ok_text     text,
  ok_varchar  varchar(20),
  ok_char     char(3),
  ok_bytea    bytea,
  ok_date     date,
  ok_time     time,
  ok_ts       timestamp,
  ok_tstz     timestamptz,
  ok_email    bq_test.email,
  c_json      json,
  c_jsonb     jsonb,
  c_uuid      uuid,
  c_interval  interval,
  c_money     money,
  c_timetz    timetz,
  c_inet      inet,
  c_cidr      cidr,
  c_macaddr   macaddr,
  c_point     point,
  c_box       box,
  c_circle    circle,
  c_tsvector  tsvector,
  c_tsquery   tsquery,
  c_range     tstzrange,
  c_multi     int4multirange,
  c_array     int[],
  c_comp_arr  bq_test.pair[],
  c_comp      bq_test.pair,
  c_enum      bq_test.mood,
  c_dom_arr   bq_test.tags,
  c_dom_json  bq_test.doc,
  c_num_wide  numeric(40, 2),
  c_num_scale numeric(20, 12),
  c_xml       xml,
  c_oid       oid
);
CREATE VIEW bq_test.v AS SELECT id, c_uuid, ok_text FROM bq_test.everything;
-- partitions are reported through their parent only
CREATE TABLE bq_test.parted (id int, r int4range) PARTITION BY RANGE (id);
CREATE TABLE bq_test.parted_1 PARTITION OF bq_test.parted FOR VALUES FROM (0) TO (10);

SELECT table_name, column_name, data_type, reason, suggested_cast
  FROM phoenix.check_bigquery('bq_test') ORDER BY table_name, column_name;

-- the suggested casts are valid SQL and produce readable types
SELECT string_agg(suggested_cast, ', ' ORDER BY column_name) AS casts
  FROM phoenix.check_bigquery('bq_test') WHERE table_name = 'everything' \gset
SELECT format('CREATE VIEW bq_test.fixed AS SELECT %s FROM bq_test.everything', :'casts') \gexec
SELECT count(*) AS problems_in_fixed FROM phoenix.check_bigquery('bq_test') WHERE table_name = 'fixed';

-- Phoenix's own reporting schema: nothing to report
SELECT count(*) AS problems_in_reporting FROM phoenix.check_bigquery();
-- hostile schema names are just names
SELECT * FROM phoenix.check_bigquery('"; DROP TABLE bq_test.everything; --');
SELECT count(*) FROM phoenix.check_bigquery(NULL);
SELECT to_regclass('bq_test.everything') IS NOT NULL AS still_there;
