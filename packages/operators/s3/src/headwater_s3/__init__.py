"""headwater-s3: S3 operators, a key sensor, an object-arrival trigger and a result store for Headwater."""
