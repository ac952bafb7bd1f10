-- wrk script for bench/search.sh: GET /api/v1/search with a query taken in turn from a list
-- of words in the seeded languages (rare and common, one and two words, Korean, Japanese,
-- Chinese), so that no one query's plan or cache decides the number.
local queries = {
  "backend", "the", "database", "api design", "release notes", "hugo", "markdown",
  "%EB%B6%84%EC%84%9D",                   -- 분석
  "%EB%B0%B1%EC%97%94%EB%93%9C",          -- 백엔드
  "%E5%A4%89%E6%8F%9B",                   -- 変換
  "%E6%8A%80%E6%9C%AF",                   -- 技术
  "scalability", "unicode", "cache",
}
local n = 0
request = function()
  n = n + 1
  local q = queries[(n % #queries) + 1]
  return wrk.format("GET", "/api/v1/search?q=" .. (q:gsub(" ", "+")))
end
