import multipart from '@fastify/multipart';
import { callerOf, HttpProblem, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import { AVATAR_TYPES, sniffImageType, type AvatarService } from './avatar.service.js';
import { STAFF } from './roles.js';
import { idParams, userResponse } from './user.schemas.js';

const TAGS = ['users'];

const tooLarge = (field: string, maxBytes: number) =>
  new HttpProblem(413, 'body-too-large', `The image is larger than ${maxBytes} bytes.`, {
    errors: [{ field, message: `at most ${maxBytes} bytes` }],
  });

/**
 * Avatar upload (multipart/form-data, in its own scope so no other route accepts multipart bodies) and the route
 * that serves the images.
 */
export async function registerAvatarRoutes(app: ServiceApp, avatars: AvatarService, maxBytes: number): Promise<void> {
  await app.register(async (plugin) => {
    // A child scope keeps the parent's compilers but not its type provider in the types; it is the same app shape.
    const scope = plugin as unknown as ServiceApp;
    await scope.register(multipart, { limits: { files: 1, fileSize: maxBytes, fields: 5, fieldSize: 1024, parts: 6 } });

    scope.put(
      '/api/users/:id/upload',
      {
        config: { roles: STAFF },
        schema: {
          tags: TAGS,
          summary: 'Upload a user’s avatar',
          description:
            'Send multipart/form-data with the image as the one file part (named `file`). PNG, JPEG, GIF or WebP, told by the ' +
            `image's own bytes (415 otherwise), at most ${maxBytes} bytes (413). The image is kept per organization and the ` +
            'user’s `avatar` becomes the path that serves it (GET /api/users/:id/avatar/:avatarId); a new upload gets a new ' +
            'path. Users change their own; admins anyone in their organization.',
          params: idParams,
          consumes: ['multipart/form-data'],
          response: { 200: userResponse },
        },
      },
      async (request) => {
        const identity = callerOf(request);
        const member = await avatars.authorize(identity, request.params.id);
        if (!request.isMultipart()) {
          throw new HttpProblem(415, 'unsupported-media-type', 'Send multipart/form-data with the image in a part named file.', {
            errors: [{ field: 'body', message: 'multipart/form-data expected' }],
          });
        }
        let part;
        try {
          part = await request.file();
        } catch (error) {
          throw invalidUpload(error);
        }
        if (!part)
          throw new HttpProblem(400, 'validation', 'The request is invalid.', { errors: [{ field: 'body.file', message: 'required' }] });
        const field = `body.${part.fieldname}`;
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw new HttpProblem(400, 'validation', 'The request is invalid.', {
            errors: [{ field, message: 'unknown field; send the image as file' }],
          });
        }
        let image: Buffer;
        try {
          image = await part.toBuffer();
        } catch (error) {
          if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(field, maxBytes);
          throw invalidUpload(error);
        }
        if (image.length === 0)
          throw new HttpProblem(400, 'validation', 'The request is invalid.', { errors: [{ field, message: 'empty file' }] });
        const type = sniffImageType(image);
        if (!type) {
          throw new HttpProblem(415, 'unsupported-media-type', `The avatar must be one of ${AVATAR_TYPES.join(', ')}.`, {
            errors: [{ field, message: `not an image of type ${AVATAR_TYPES.join(', ')}` }],
          });
        }
        return avatars.replace(identity, member, image, type, request.id);
      },
    );
  });

  app.get(
    '/api/users/:id/avatar/:avatarId',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'A user’s avatar image',
        description:
          'The path is the user’s `avatar` field. Served without a token so it works in an <img> tag: the avatar id is random ' +
          'and changes with each upload, so only those shown the user can find it. Replaced images answer 404.',
        params: z.object({ id: z.uuid(), avatarId: z.uuid() }).strict(),
      },
    },
    async (request, reply) => {
      const image = await avatars.image(request.params.id, request.params.avatarId);
      return reply
        .type(image.contentType)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'")
        .send(image.data);
    },
  );
}

/** A malformed multipart body: 400 naming the body, without the parser's wording (it can quote the input). */
function invalidUpload(error: unknown): HttpProblem {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new HttpProblem(400, 'validation', 'The request is invalid.', {
      errors: [{ field: 'body', message: 'send one file part only' }],
    });
  }
  return new HttpProblem(400, 'malformed-body', 'The multipart body could not be read.', {
    errors: [{ field: 'body', message: 'malformed multipart/form-data' }],
  });
}
