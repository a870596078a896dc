export { generateEncryptionKey, KEY_GENERATION_COMMAND, type Keyring } from './keyring.js';
export { createSecretScrubber, type SecretScrubber } from './secret-scrubber.js';
export { isMaskedSecret, isSealedSecret, isSecretValue, MASKED_SECRET, type SealedSecret, SecretValue, secret } from './secret-value.js';
export {
  keepMaskedSecrets,
  type MaskedHttpToolDefinition,
  maskSecrets,
  type ResealedDefinition,
  resealSecretHeaders,
  sealSecretHeaders,
} from './tool-secrets.js';
export {
  createVault,
  type ResealResult,
  type SealingContext,
  secretHeaderContext,
  type Vault,
  type VaultOptions,
} from './vault.js';
