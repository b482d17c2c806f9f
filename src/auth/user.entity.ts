import { Check, Column, CreateDateColumn, Entity, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity';

export const ROLES = ['owner', 'application', 'member'] as const;
export type Role = (typeof ROLES)[number];
export type UserKind = 'user' | 'anonymous';

@Entity('users')
@Check('users_role_check', `role IN ('owner', 'application', 'member')`)
@Check('users_kind_check', `kind IN ('user', 'anonymous')`)
export class UserEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  role: Role;

  /** Repository patterns (`org/*`) this user may touch; null means every repository. */
  @Column({ type: 'text', array: true, nullable: true })
  repositories: string[] | null;

  @Column({ type: 'text', default: 'user' })
  kind: UserKind;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @OneToMany(() => ApiKeyEntity, (key) => key.user)
  keys: ApiKeyEntity[];
}
