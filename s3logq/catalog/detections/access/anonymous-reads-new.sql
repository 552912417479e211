-- name: anonymous-reads-new
-- title: Anonymous reads of a bucket that had none
-- severity: high
-- logs: access
-- technique: T1530
-- description: The first successful unauthenticated read (GET or HEAD of an object, or a listing) of a bucket
-- description: in the lake's whole history: the bucket, or part of it, has become readable by anyone.
-- identity: bucket_name
-- history: all
-- evidence: run anonymous-access --bucket {bucket_name} --since {event_time}
WITH anonymous_reads AS (
  SELECT *
  FROM access_log
  WHERE requester IS NULL
    AND operation IN ('REST.GET.OBJECT', 'REST.HEAD.OBJECT', 'REST.GET.BUCKET')
    AND httpstatus BETWEEN 200 AND 299
    AND ($until IS NULL OR request_time < $until)
),
first_reads AS (
  SELECT bucket_name, min(request_time) AS first_read,
         arg_min_null(key, (request_time, log_file, log_line)) AS first_key,
         arg_min_null(remoteip, (request_time, log_file, log_line)) AS first_ip,
         arg_min_null(operation, (request_time, log_file, log_line)) AS first_operation,
         count(*) AS reads
  FROM anonymous_reads
  GROUP BY bucket_name
)
SELECT first_read AS event_time, bucket_name, first_key AS object_key, CAST(NULL AS VARCHAR) AS principal,
       first_ip AS source_ip, 'first anonymous read of the bucket (' || first_operation || ')' AS detail
FROM first_reads
WHERE ($since IS NULL OR first_read >= $since)
ORDER BY event_time, bucket_name
