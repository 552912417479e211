-- name: top-troubleshooting
-- aliases: TopTroubleshootingQueries
-- title: Everything worth a look
-- description: Client errors, server errors, object deletions, lifecycle expirations and transitions in one
-- description: list with a category column, in every bucket unless --bucket is given (the guidance's query
-- description: dropped the 4xx rows then); newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, category, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key, versionid, useragent, requestid, hostid
-- key_columns: request_time, category, httpstatus, errorcode, operation, bucket_name, key, requester
SELECT request_time, category, requester, remoteip, operation, httpstatus, errorcode, bucket_name, key,
       versionid, useragent, requestid, hostid
FROM (
    SELECT *,
           CASE
               WHEN httpstatus BETWEEN 400 AND 499 THEN 'client-error'
               WHEN httpstatus BETWEEN 500 AND 599 THEN 'server-error'
               WHEN operation = 'S3.EXPIRE.OBJECT' THEN 'lifecycle-expiration'
               WHEN operation LIKE 'S3.TRANSITION%' THEN 'lifecycle-transition'
               WHEN operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT', 'S3.CREATE.DELETEMARKER')
                    AND (httpstatus IS NULL OR httpstatus BETWEEN 200 AND 299) THEN 'deletion'
           END AS category
    FROM access_log
    WHERE ($since IS NULL OR request_time >= $since)
      AND ($until IS NULL OR request_time < $until)
      AND ($bucket IS NULL OR bucket_name = $bucket)
      AND ($key IS NULL OR key = $key)
      AND ($prefix IS NULL OR starts_with(key, $prefix))
      AND ($requester IS NULL OR strpos(requester, $requester) > 0)
      AND ($operation IS NULL OR operation = upper($operation))
      AND ($status IS NULL OR httpstatus = $status)
      AND ($ip IS NULL OR remoteip = $ip)
) AS classified
WHERE category IS NOT NULL
ORDER BY request_time DESC, log_file, log_line
