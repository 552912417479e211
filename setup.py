"""The native access-log tokenizer and CloudTrail reader; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("s3logq.formats._access_tokenizer", ["s3logq/formats/_access_tokenizer.c"], depends=["s3logq/formats/_text.h"],
                             extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"]),
                   Extension("s3logq.formats._cloudtrail_records", ["s3logq/formats/_cloudtrail_records.c"], depends=["s3logq/formats/_text.h"],
                             extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
