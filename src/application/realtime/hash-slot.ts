/**
 * Redis Cluster's key-to-slot function (cluster spec, "Key distribution model"): CRC16 of the key's hash
 * tag, modulo 16384. The hash tag is the text between the first `{` and the first `}` after it when that
 * text is not empty; otherwise the whole key is hashed. Kept next to the channel names because the
 * partitions' tags are chosen by the slot they fall in (`partitionTag`), and a cluster subscriber routes
 * by that slot.
 */
export const HASH_SLOTS = 16384;

/** CRC16-XMODEM (CCITT polynomial 0x1021, initial value 0, no reflection, no final xor), by byte. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

const utf8 = new TextEncoder();

/**
 * The CRC16 Redis Cluster hashes keys with, of a string's UTF-8 bytes (as a client sends the key).
 * Given the CRC of a prefix as `crc`, it goes on from there: the CRC of prefix + data.
 */
export function crc16(data: string | Uint8Array, crc = 0): number {
  if (typeof data === 'string') {
    for (let i = 0; i < data.length; i++) {
      const code = data.charCodeAt(i);
      // Past ASCII the string's UTF-8 bytes are not its char codes: hash the rest as bytes.
      if (code > 0x7f) return crc16(utf8.encode(data.slice(i)), crc);
      crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ code) & 0xff]!;
    }
    return crc;
  }
  for (const byte of data) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The cluster slot of a key or sharded channel name, as `CLUSTER KEYSLOT` answers it. `{` and `}` are
 * ASCII, which UTF-8 never uses inside a multi-byte character, so finding them in the string finds the
 * same tag as Redis finds in the bytes.
 */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % HASH_SLOTS;
  }
  return crc16(key) % HASH_SLOTS;
}
