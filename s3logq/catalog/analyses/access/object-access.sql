-- name: object-access
-- aliases: ObjectAccess
-- title: Who read an object
-- description: Every REST.GET.OBJECT request (or the read operation --operation names, such as
-- description: WEBSITE.GET.OBJECT or REST.COPY.OBJECT_GET), failed ones included, newest first.
-- parameters: since, until, bucket, key, prefix, requester, operation, status, ip
-- columns: request_time, requester, remoteip, operation, httpstatus, bucket_name, key, versionid, useragent, authtype, aclrequired, requestid, hostid
-- key_columns: request_time, requester, remoteip, httpstatus, bucket_name, key, versionid
SELECT request_time, requester, remoteip, operation, httpstatus, bucket_name, key, versionid, useragent,
       authtype, aclrequired, requestid, hostid
FROM access_log
WHERE operation = coalesce(upper($operation), 'REST.GET.OBJECT')
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($status IS NULL OR httpstatus = $status)
  AND ($ip IS NULL OR remoteip = $ip)
ORDER BY request_time DESC, log_file, log_line
