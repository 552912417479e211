"""Amazon Athena: the DDL that puts raw logs in Athena's catalog (`ddl`), the client that runs statements and
queries there (`client`), and `setup`, which sends the DDL. The query engine itself is `s3logq.engines.athena`."""
