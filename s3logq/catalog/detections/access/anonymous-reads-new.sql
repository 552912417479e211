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
  -- the bucket's first read: the earliest, then the first in the log files (a tie in time)
  SELECT bucket_name, request_time, key, remoteip, operation,
         row_number() OVER (PARTITION BY bucket_name ORDER BY request_time, log_file, log_line) AS read_rank
  FROM access_log
  WHERE requester IS NULL
    AND operation IN ('REST.GET.OBJECT', 'REST.HEAD.OBJECT', 'REST.GET.BUCKET')
    AND httpstatus BETWEEN 200 AND 299
    AND ($until IS NULL OR request_time < $until)
)
SELECT request_time AS event_time, bucket_name, key AS object_key, CAST(NULL AS VARCHAR) AS principal,
       remoteip AS source_ip, 'first anonymous read of the bucket (' || operation || ')' AS detail
FROM anonymous_reads
WHERE read_rank = 1
  AND ($since IS NULL OR request_time >= $since)
ORDER BY event_time, bucket_name
