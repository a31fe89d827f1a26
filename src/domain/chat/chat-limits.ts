/** The limits of DESIGN.md §5, in one place so that errors and docs quote the same numbers. */
export const CHAT_LIMITS = {
  contentMaxChars: 4000,
  /** UTF-8 bytes of the trimmed content: 4000 characters can be far more (a family emoji is 25 bytes). */
  contentMaxBytes: 16 * 1024,
  nameMaxChars: 200,
  maxParticipants: 1000,
  userIdMaxChars: 128,
  clientMessageIdMaxChars: 128,
} as const;
