/**
 * The limits of DESIGN.md §5, in one place so that errors and docs quote the same numbers. Characters
 * are grapheme clusters, and one of those has no size limit of its own: every text also has a limit
 * in bytes of UTF-8. For ids that is what keeps them within an index row (PostgreSQL refuses a key of
 * about 2.7 kB and more, and then the whole write batch it came in).
 */
export const CHAT_LIMITS = {
  contentMaxChars: 4000,
  /** UTF-8 bytes of the trimmed content: 4000 characters can be far more (a family emoji is 25 bytes). */
  contentMaxBytes: 16 * 1024,
  nameMaxChars: 200,
  nameMaxBytes: 1024,
  maxParticipants: 1000,
  userIdMaxChars: 128,
  userIdMaxBytes: 512,
  clientMessageIdMaxChars: 128,
  clientMessageIdMaxBytes: 512,
} as const;
