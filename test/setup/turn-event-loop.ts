// vitest runs synchronous tests back to back without turning the event loop: a file of such
// tests is one long stretch. One turn after each test keeps every stretch to a single test
// (see turnEventLoop for why a stretch over 60 s fails the run).
import { afterEach } from "vitest";
import { turnEventLoop } from "../helpers/event-loop.js";

afterEach(turnEventLoop);
