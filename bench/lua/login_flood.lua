-- A password-guessing flood: wrong passwords for `accounts` emails in turn, all from one
-- client (the X-Forwarded-For entry the trusted proxy would add), or from a new client each
-- request when `rotate` is set (a botnet).
local accounts = tonumber(os.getenv("FLOOD_ACCOUNTS") or "50")
local rotate = os.getenv("FLOOD_ROTATE") == "1"
-- The control: the same load of the cheapest request there is (a liveness probe), so what the
-- load generator itself takes from the shared cores is told apart from what sign-ins cost.
local control = os.getenv("FLOOD_CONTROL") == "1"
local n = 0

request = function()
  n = n + 1
  if control then
    return wrk.format("GET", "/healthz")
  end
  local client = "203.0.113.7"
  if rotate then
    client = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  end
  local body = string.format(
    '{"user":{"email":"victim%d@example.com","password":"guess-%d-wrong"}}', n % accounts, n)
  return wrk.format("POST", "/api/users/login", {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = client,
  }, body)
end
