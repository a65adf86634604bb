{{ config(materialized="view", tags=["customers"]) }}
select id, name from {{ source('shop', 'customers') }}
