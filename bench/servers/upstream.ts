/**
 * The upstream every scenario ends at: a node:http server answering any request (after
 * reading its body) with the same ~2 KiB JSON customer record. It counts the requests it
 * served, so the bench can check that each answered call really reached it.
 */
import { sendToParent } from '../child-process.js';
import { customerJson } from '../fixtures.js';
import { serveOnLoopback } from './loopback.js';

const body = Buffer.from(customerJson);
const headers = { 'content-type': 'application/json', 'content-length': String(body.byteLength) };
let served = 0;

await serveOnLoopback(
  (req, res) => {
    req.resume();
    req.on('end', () => {
      served++;
      res.writeHead(200, headers);
      res.end(body);
    });
  },
  {
    onMessage: async (message) => {
      if (message.type === 'count') await sendToParent({ type: 'count', requests: served });
    },
  },
);
