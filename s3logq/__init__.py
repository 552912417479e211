"""s3logq: answer who read, deleted or changed what in S3, from server access logs and CloudTrail."""

__version__ = "0.1.0"
