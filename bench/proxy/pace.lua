-- Moderate load for the latency runs: each connection waits between requests, so latency is
-- measured below saturation. The pause comes from the BENCH_LAT_DELAY_MS environment variable.
local pause = tonumber(os.getenv("BENCH_LAT_DELAY_MS") or "1")
function delay()
  return pause
end
