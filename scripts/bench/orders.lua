-- wrk script: POST /api/v1/orders alternating a buyer and a seller at one price, so every pair
-- of requests trades and the book stays small. Keys come from the demo keys file via env:
--   BUY_KEY=... SELL_KEY=... SYMBOL=BTC-USD PRICE=60000.00 QTY=0.0001 wrk -s orders.lua URL
local buy_key = os.getenv("BUY_KEY")
local sell_key = os.getenv("SELL_KEY")
local symbol = os.getenv("SYMBOL") or "BTC-USD"
local price = os.getenv("PRICE") or "60000.00"
local qty = os.getenv("QTY") or "0.0001"
local n = 0

request = function()
  n = n + 1
  local side, key
  if n % 2 == 0 then side, key = "buy", buy_key else side, key = "sell", sell_key end
  local body = string.format(
    '{"symbol":"%s","side":"%s","type":"limit","price":"%s","quantity":"%s","time_in_force":"gtc"}',
    symbol, side, price, qty)
  return wrk.format("POST", "/api/v1/orders",
    { ["Content-Type"] = "application/json", ["X-API-Key"] = key }, body)
end

-- done() runs in its own Lua state, so it sees wrk's summary, not per-thread counters.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests %d\nnon2xx %d\nsocket_errors %d\n", summary.requests,
    e.status, e.connect + e.read + e.write + e.timeout))
  io.write(string.format("rps %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms %.3f\np99_ms %.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
