// A 12-megapixel phone photo is 4–6 MB; a register photo needs only to be legible. Downscale on
// the device with a canvas to at most MAX_SIDE pixels on the long side, re-encode as JPEG, and
// the upload is ~100–250 KB: cheap to keep in IndexedDB and to send over a weak signal.

export const MAX_SIDE = 1600;
const QUALITY = 0.75;

/** The size to draw at: the long side capped at maxSide, aspect kept, never enlarged. */
export function fitWithin(width: number, height: number, maxSide = MAX_SIDE): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export async function downscale(file: Blob, maxSide = MAX_SIDE): Promise<Blob> {
  // createImageBitmap honours the EXIF orientation, so a portrait photo stays upright
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const { width, height } = fitWithin(bitmap.width, bitmap.height, maxSide);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas');
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
  if (!blob) throw new Error('the photo could not be encoded');
  return blob;
}
