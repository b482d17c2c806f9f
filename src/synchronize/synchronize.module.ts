import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { MutexModule } from '../mutex/mutex.module';
import { AnonymousUsersController } from './anonymous-users.controller';
import { SynchronizeController } from './synchronize.controller';
import { SynchronizeService } from './synchronize.service';

/** The synchronize lock API: anonymous users and per-user try-locks over the shared mutex. */
@Module({
  imports: [AuthModule, MutexModule],
  controllers: [AnonymousUsersController, SynchronizeController],
  providers: [SynchronizeService],
})
export class SynchronizeModule {}
