-- Generated from flywheel_pipeline/tables.py: edit there, then run
--   python -m flywheel_pipeline.tables --write-dbt   (make generate)
-- ml.recommendation_targets, every column declared for it in
-- models/staging/_ml__sources.yml cast to its type (macro stg_ml, macros/stg_ml.sql).
{{ stg_ml('recommendation_targets') }}
