-- create+delete XB cycles: each create's binding id is deleted by the next request on any connection
local ids, n, seq = {}, 0, 0
request = function()
  if n > 0 then
    local id = ids[n]; ids[n] = nil; n = n - 1
    return wrk.format("DELETE", "/v1/bindings/" .. id)
  end
  seq = seq + 1
  return wrk.format("POST", "/v1/bindings", {["Content-Type"] = "application/json"},
                    string.format('{"mode":"XB","b":"139%08d"}', seq % 100000000))
end
response = function(status, headers, body)
  if status == 201 then
    local id = body:match('"binding_id":%s*"([^"]+)"')
    if id then n = n + 1; ids[n] = id end
  end
end
